#!/usr/bin/env bash
# Print mypy's -p arguments: every import package the workspace ships.
cd "$(dirname "$0")/.." || exit 1
for f in packages/asgiref/src/asgiref/*.py; do
    printf -- '-p asgiref.%s ' "$(basename "$f" .py)"
done
for d in packages/*/src/* conformance/src/*; do
    name=$(basename "$d")
    [ "$name" = asgiref ] && continue
    [ -f "$d/__init__.py" ] && printf -- '-p %s ' "$name"
done
echo
