#!/usr/bin/env bash
# `make run`: the tutorial chat site (examples/chat) under `manage.py runserver` on
# the in-memory channel layer: Daphne and worker threads in one process, no servers
# needed. Set CHAT_ADDR (default 127.0.0.1:8000) to listen elsewhere.
set -euo pipefail
cd "$(dirname "$0")/../examples/chat"
PY=../../.venv/bin/python
export CHAT_LAYER=inmemory
ADDR="${CHAT_ADDR:-127.0.0.1:8000}"
"$PY" manage.py migrate --noinput
echo
echo "The chat site will be at http://${ADDR}/ : sign in with any name, open a room,"
echo "and chat from two browser windows. Stop it with Ctrl-C."
echo
exec "$PY" manage.py runserver "$ADDR"
