#!/usr/bin/env bash
# `make run`: until the tutorial site lands, show the conformance report of the
# embedded default layer (the in-memory layer), which needs no servers.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m asgi_conformance asgiref.inmemory:ChannelLayer
