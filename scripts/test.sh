#!/usr/bin/env bash
# `make test`: lint, start the servers, run every package's tests and the
# conformance suite for every layer listed in conformance/layers.conf, then stop
# the servers this run started (also on failure).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PY=.venv/bin/python
status=0
step() { echo; echo "==> $*"; }
run() {  # run a step, remember failure, keep going so the report is complete
    "$@"; local rc=$?
    if [ $rc -ne 0 ]; then echo "FAILED ($rc): $*"; status=1; fi
}

started=0
status_report=$(scripts/services.sh status 2>&1)
if ! grep -q DOWN <<<"$status_report"; then
    echo "services already running; leaving them up afterwards"
else
    started=1
    trap 'scripts/services.sh stop' EXIT
    scripts/services.sh start || { echo "services failed to start"; exit 1; }
fi
eval "$(scripts/services.sh env)"

step "ruff"
run .venv/bin/ruff check .
run .venv/bin/ruff format --check .
step "mypy"
# shellcheck disable=SC2046
run .venv/bin/mypy $(scripts/mypy_targets.sh)

for dir in packages/asgiref packages/asgi_ipc packages/asgi_redis packages/asgi_rabbitmq \
           packages/daphne packages/channels conformance; do
    [ -d "$dir/tests" ] || continue
    step "pytest $dir"
    .venv/bin/pytest -q -p no:cacheprovider "$dir/tests"; rc=$?
    # 5 = no tests collected: fine for a package that has none yet.
    if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then echo "FAILED ($rc): pytest $dir"; status=1; fi
done

if [ -f docs/conf.py ]; then
    step "docs (warnings are errors)"
    run .venv/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html
fi
if [ -d stack/tests ]; then
    step "pytest stack/tests (faults, security, multi-host)"
    run .venv/bin/pytest -q -p no:cacheprovider stack/tests
fi
if [ -d tests ]; then
    step "pytest tests (cross-package: docs snippets, dist install)"
    run .venv/bin/pytest -q -p no:cacheprovider tests
fi

step "conformance suite for every layer"
while IFS='|' read -r target config; do
    [[ -z "$target" || "$target" == \#* ]] && continue
    # Expand $VARIABLES (from scripts/services.sh env) and nothing else: no shell evaluation.
    config=$(CONFIG="$config" $PY -c 'import os; print(os.path.expandvars(os.environ["CONFIG"]))')
    echo "--- $target ${config}"
    if [ -n "$config" ]; then
        run $PY -m asgi_conformance "$target" --config "$config"
    else
        run $PY -m asgi_conformance "$target"
    fi
done < conformance/layers.conf

echo
if [ $status -eq 0 ]; then echo "make test: all steps passed"; else echo "make test: FAILED"; fi
exit $status
