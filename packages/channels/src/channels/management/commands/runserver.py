"""``manage.py runserver`` with Channels: Daphne in a thread plus worker threads.

How this works
--------------
``handle`` (Django's) parses the address and runs :meth:`Command.inner_run`
under Django's autoreloader. When the default channel layer is configured (and
``--noasgi`` is not given) ``inner_run`` runs the system checks, starts the
workers (four threads, one with ``--nothreading``, none with ``--noworker``) on
the default layer, then runs Daphne's ``Server`` in a thread of its own with
``signal_handlers=False``, and waits for it. The banner is printed once Daphne
is listening, with the port it really bound. Each Daphne access event becomes
a 1.x console line (see :mod:`channels.log`). Without ``CHANNEL_LAYERS``, or
with ``--noasgi``, this is Django's own runserver (with static files when
``django.contrib.staticfiles`` is installed).

With DEBUG (or ``--insecure``) and staticfiles installed, the workers serve
``STATIC_URL`` themselves (:mod:`channels.staticfiles`) unless ``--nostatic``.

This command subclasses staticfiles' runserver, so when ``django.contrib.staticfiles``
is listed before ``channels`` in INSTALLED_APPS (and so owns the ``runserver``
name), :func:`channels._runserver_hook.install_runserver_command` points that
module at this command instead.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NoReturn

from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import (
    Command as StaticfilesRunserverCommand,
)
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandParser
from django.core.servers.basehttp import get_internal_wsgi_application
from django.db import connections
from django.utils import autoreload

from channels.asgi import DEFAULT_CHANNEL_LAYER, channel_layers
from channels.log import format_action

__all__ = ["Command"]

logger = logging.getLogger(__name__)

_LISTEN_ERRORS = {
    errno.EACCES: "You don't have permission to access that port.",
    errno.EADDRINUSE: "That port is already in use.",
    errno.EADDRNOTAVAIL: "That IP address can't be assigned to.",
}


class Command(StaticfilesRunserverCommand):  # type: ignore[misc]
    """Run Daphne and Channels workers in one process, for development."""

    help = (
        "Starts a lightweight web server for development: Daphne (HTTP and WebSocket) "
        "plus worker threads on the default channel layer, and static files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Add Channels' options to Django's runserver options."""
        super().add_arguments(parser)
        parser.add_argument(
            "--noworker",
            action="store_false",
            dest="run_worker",
            help="Do not run worker threads; run `manage.py runworker` separately.",
        )
        parser.add_argument(
            "--noasgi",
            action="store_false",
            dest="use_asgi",
            help="Run Django's own WSGI development server instead of Daphne.",
        )
        parser.add_argument(
            "--http_timeout",
            "--http-timeout",
            type=float,
            dest="http_timeout",
            default=60.0,
            help="Seconds Daphne waits for a worker to answer an HTTP request (default 60).",
        )
        parser.add_argument(
            "--websocket_handshake_timeout",
            "--websocket-handshake-timeout",
            type=float,
            dest="websocket_handshake_timeout",
            default=5.0,
            help="Seconds Daphne waits for websocket.connect to be answered (default 5).",
        )

    def get_handler(self, *args: Any, **options: Any) -> Any:
        """Return the WSGI handler for --noasgi (static files only with staticfiles)."""
        if apps.is_installed("django.contrib.staticfiles"):
            return super().get_handler(*args, **options)
        return get_internal_wsgi_application()

    def uses_channels(self, options: dict[str, Any]) -> bool:
        """Return True if this run should use Daphne and the channel layer."""
        return bool(options.get("use_asgi", True)) and DEFAULT_CHANNEL_LAYER in channel_layers

    def inner_run(self, *args: Any, **options: Any) -> None:
        """Serve with Daphne and workers, or Django's server when Channels is not set up."""
        if not self.uses_channels(options):
            super().inner_run(*args, **options)
            return
        autoreload.raise_last_exception()
        if not options.get("skip_checks"):
            self.stdout.write("Performing system checks...\n\n")
            self.check(display_num_errors=True)
        self.check_migrations()
        for connection in connections.all(initialized_only=True):
            connection.close()
        try:
            self.channel_layer = channel_layers[DEFAULT_CHANNEL_LAYER]
        except ImproperlyConfigured as exc:
            self._fail(str(exc))
        self._install_http_consumer(options)
        workers = self._start_workers(options)
        server = self._build_server(options)
        self.server = server
        self._serve(server, workers, options.get("shutdown_message", ""))

    # Pieces -------------------------------------------------------------------

    def _install_http_consumer(self, options: dict[str, Any]) -> None:
        from channels.staticfiles import StaticFilesConsumer, should_serve_static

        router = self.channel_layer.router
        if options.get("use_static_handler", True) and should_serve_static(
            bool(options.get("insecure_serving"))
        ):
            router.check_default(http_consumer=StaticFilesConsumer())
        else:
            router.check_default()

    def _start_workers(self, options: dict[str, Any]) -> Any:
        if not options.get("run_worker", True):
            return None
        from channels.signals import worker_process_ready
        from channels.worker import WorkerGroup

        count = 4 if options.get("use_threading", True) else 1
        group = WorkerGroup(self.channel_layer, n_threads=count, signal_handlers=False)
        thread = threading.Thread(target=group.run, name="channels-workers", daemon=True)
        thread.start()
        worker_process_ready.send(sender=group)
        return group

    def _build_server(self, options: dict[str, Any]) -> Any:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        host = "0.0.0.0" if self.addr == "0" else self.addr
        return Server(
            channel_layer=self.channel_layer.channel_layer,
            endpoints=build_endpoint_description_strings(host=host, port=int(self.port)),
            signal_handlers=False,
            http_timeout=options["http_timeout"],
            websocket_connect_timeout=options["websocket_handshake_timeout"],
            ws_protocols=getattr(settings, "CHANNELS_WS_PROTOCOLS", None),
            root_path=settings.FORCE_SCRIPT_NAME or "",
            action_logger=self.log_action,
            verbosity=options.get("verbosity", 1),
            ready_callable=lambda: self.on_ready(options),
        )

    def _serve(self, server: Any, workers: Any, shutdown_message: str) -> None:
        failure: list[BaseException] = []

        def run() -> None:
            try:
                server.run()
            except Exception as exc:
                failure.append(exc)

        thread = threading.Thread(target=run, name="daphne", daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                thread.join(0.5)
        except KeyboardInterrupt:
            server.stop()
            if workers is not None:
                workers.termed = True
            thread.join(10)
            if shutdown_message:
                self.stdout.write(shutdown_message)
            sys.exit(0)
        if workers is not None:
            workers.termed = True
        if failure:
            error = failure[0]
            code = getattr(error, "errno", None)
            self._fail(
                _LISTEN_ERRORS.get(code, str(error)) if isinstance(code, int) else str(error)
            )

    def _fail(self, text: str) -> NoReturn:
        self.stderr.write(f"Error: {text}")
        self.stderr.flush()
        # sys.exit would only end this thread under the autoreloader.
        os._exit(1)

    def on_ready(self, options: dict[str, Any]) -> None:
        """Print the banner once Daphne listens (with the port it really bound)."""
        port = self.port
        addresses = getattr(self.server, "listening_addresses", None)
        if addresses:
            port = addresses[0][1]
        if self._raw_ipv6:
            addr = f"[{self.addr}]"
        elif self.addr == "0":
            addr = "0.0.0.0"
        else:
            addr = self.addr
        quit_command = "CTRL-BREAK" if sys.platform == "win32" else "CONTROL-C"
        workers = "no workers (run `manage.py runworker`)"
        if options.get("run_worker", True):
            count = 4 if options.get("use_threading", True) else 1
            workers = f"{count} worker thread{'s' if count > 1 else ''}"
        self.stdout.write(
            f"{datetime.now().strftime('%B %d, %Y - %X')}\n"
            f"Django version {self.get_version()}, using settings {settings.SETTINGS_MODULE!r}\n"
            f"Starting Channels development server at {self.protocol}://{addr}:{port}/\n"
            f"Channel layer {self.channel_layer}, {workers}\n"
            f"Quit the server with {quit_command}."
        )
        self.stdout.flush()

    def log_action(self, protocol: str, action: str, details: Mapping[str, Any]) -> None:
        """Print a 1.x-style console line for a Daphne access event."""
        formatted = format_action(protocol, action, details)
        if formatted is None:
            return
        line, style_name = formatted
        style = getattr(self.style, style_name) if style_name else None
        self.stderr.write(line, style_func=style or (lambda text: text))
        self.stderr.flush()
