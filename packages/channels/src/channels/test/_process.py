"""Entry point of the processes ChannelLiveServerTestCase starts: Daphne or a worker.

Run as ``python -m channels.test._process daphne|worker [options]`` with
DJANGO_SETTINGS_MODULE set. Before Django is set up, each database alias named
in the JSON of ``CHANNELS_LIVE_DATABASES`` is pointed at the test database the
parent created, and the channel layer is built from ``TEST_CONFIG``. When ready
the process prints one line, ``LIVE-SERVER-LISTENING <host> <port>`` or
``LIVE-SERVER-WORKER-READY``, which the parent waits for.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

__all__ = ["DATABASES_ENV", "LISTENING", "WORKER_READY", "main"]

logger = logging.getLogger(__name__)

DATABASES_ENV = "CHANNELS_LIVE_DATABASES"
LISTENING = "LIVE-SERVER-LISTENING"
WORKER_READY = "LIVE-SERVER-WORKER-READY"


def _setup_django(alias: str) -> Any:
    """Point the databases at the test databases, set Django up, install the test layer."""
    import django
    from django.conf import settings

    names = json.loads(os.environ.get(DATABASES_ENV) or "{}")
    for db_alias, name in names.items():
        settings.DATABASES[db_alias]["NAME"] = name
    django.setup()
    from channels.asgi import channel_layers

    layer = channel_layers.make_test_backend(alias)
    channel_layers.set(alias, layer)
    return layer


def _announce(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_daphne(alias: str, host: str, port: int) -> None:
    """Serve HTTP and WebSocket on ``host:port`` (0 picks a port) until SIGTERM."""
    from daphne.server import Server

    layer = _setup_django(alias)
    server: Server

    def ready() -> None:
        bound_host, bound_port = server.listening_addresses[0]
        _announce(f"{LISTENING} {bound_host} {bound_port}")

    server = Server(
        channel_layer=layer.channel_layer,
        endpoints=[f"tcp:port={port}:interface={host}"],
        signal_handlers=True,
        ready_callable=ready,
        verbosity=0,
    )
    server.run()


def run_worker(alias: str, threads: int, serve_static: bool) -> None:
    """Run ``runworker`` on the test layer, serving static files if asked, until SIGTERM."""
    layer = _setup_django(alias)
    from django.core.management import call_command

    from channels.signals import worker_process_ready

    if serve_static:
        from channels.staticfiles import StaticFilesConsumer

        layer.router.check_default(http_consumer=StaticFilesConsumer())
    worker_process_ready.connect(lambda **kwargs: _announce(WORKER_READY), weak=False)
    call_command("runworker", layer=alias, threads=threads, verbosity=0)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run Daphne or a worker."""
    parser = argparse.ArgumentParser(prog="python -m channels.test._process")
    parser.add_argument("role", choices=["daphne", "worker"])
    parser.add_argument("--alias", default="default")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--serve-static", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.role == "daphne":
        run_daphne(args.alias, args.host, args.port)
    else:
        run_worker(args.alias, args.threads, args.serve_static)


if __name__ == "__main__":
    main()
