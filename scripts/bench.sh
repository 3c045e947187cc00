#!/usr/bin/env bash
# `make bench`: run every bench/bench_*.py (pass --quick through BENCH_ARGS for a short run)
# with the servers up; results land in bench/results/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
started=0
status_report=$(scripts/services.sh status 2>&1)
if grep -q DOWN <<<"$status_report"; then
    started=1
    trap 'scripts/services.sh stop' EXIT
    scripts/services.sh start || exit 1
fi
eval "$(scripts/services.sh env)"
mkdir -p bench/results
status=0
for script in bench/bench_*.py; do
    [ -e "$script" ] || continue
    echo "==> $script"
    # shellcheck disable=SC2086
    .venv/bin/python "$script" ${BENCH_ARGS:-} || { echo "FAILED: $script"; status=1; }
done
if [ -f bench/report.py ]; then .venv/bin/python bench/report.py || status=1; fi
exit $status
