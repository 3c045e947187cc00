"""``ChannelLiveServerTestCase``: run real Daphne and worker processes for browser tests.

How this works
--------------
Once per test class, ``setUpClass`` builds the channel layer of
``channel_layer_alias`` from its ``TEST_CONFIG`` (falling back to ``CONFIG``),
flushes it if it can, and installs it in this process too, so that what a test
sends with ``Channel``/``Group`` reaches the servers. It then starts two
subprocesses (``python -m channels.test._process``): Daphne on a free port of
``host`` and a worker with ``worker_threads`` threads (serving static files
when ``serve_static`` is true). Both use the same settings module and are
pointed at the test databases this process created. ``setUpClass`` waits
until Daphne printed its port, the worker said it is ready and the port
accepts connections; ``tearDownClass`` stops both by pid (SIGTERM, then SIGKILL
after ``shutdown_timeout``) and restores the previous layer.

The layer must span processes (``asgi_redis``, ``asgi_ipc``, ...) and the
databases must not be in memory: the processes could not share either.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test import TransactionTestCase

from channels.asgi import DEFAULT_CHANNEL_LAYER, ChannelLayerWrapper, channel_layers
from channels.test._process import DATABASES_ENV, LISTENING, WORKER_READY

__all__ = ["ChannelLiveServerTestCase", "LiveServerProcess"]

logger = logging.getLogger(__name__)


class LiveServerProcess:
    """A ``channels.test._process`` child whose output goes to a temporary log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self._log: IO[bytes] = tempfile.NamedTemporaryFile(
            prefix=f"channels-live-{name}-", suffix=".log", delete=False
        )
        self.log_path = Path(self._log.name)
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "channels.test._process", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        """Return the process id."""
        return self.popen.pid

    def output(self) -> str:
        """Return everything the process printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_line(self, prefix: str, timeout: float) -> str:
        """Return the first output line starting with ``prefix``; fail if it never comes."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.output().splitlines():
                if line.startswith(prefix):
                    return line
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"The live server's {self.name} process exited with code "
                    f"{self.popen.returncode} before it was ready. Its output:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"The live server's {self.name} process did not say {prefix!r} within "
                    f"{timeout:.0f}s. Its output:\n{self.output()}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float) -> int:
        """Send SIGTERM to the process (SIGKILL after ``timeout``) and return its exit code."""
        try:
            if self.popen.poll() is None:
                os.kill(self.popen.pid, signal.SIGTERM)
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    logger.warning("The live %s did not stop on SIGTERM; killing it", self.name)
                    os.kill(self.popen.pid, signal.SIGKILL)
                    self.popen.wait(timeout)
            return self.popen.returncode
        finally:
            self._log.close()
            self.log_path.unlink(missing_ok=True)


def _wait_for_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=5):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Daphne said it listens on {host}:{port}, but the port did not answer "
                    f"within {timeout:.0f}s: {exc}"
                ) from exc
            time.sleep(0.05)


class ChannelLiveServerTestCase(TransactionTestCase):  # type: ignore[misc]
    """A TransactionTestCase with Daphne and a worker serving the project on a real port."""

    #: Interface Daphne listens on.
    host = "127.0.0.1"
    #: The CHANNEL_LAYERS alias the servers use (with its TEST_CONFIG).
    channel_layer_alias = DEFAULT_CHANNEL_LAYER
    #: Serve static files from the worker, as runserver does.
    serve_static = True
    #: Threads in the worker process.
    worker_threads = 1
    #: Seconds to wait for the processes to start, and to stop.
    startup_timeout = 90.0
    shutdown_timeout = 20.0

    live_server_url: str
    live_server_ws_url: str
    _live_processes: list[LiveServerProcess]
    _live_old_layer: ChannelLayerWrapper | None

    @classmethod
    def setUpClass(cls) -> None:
        """Start Daphne and the worker on the test layer and the test databases."""
        super().setUpClass()
        try:
            cls._start_live_server()
        except BaseException:
            cls._stop_live_server()
            super().tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        """Stop the processes by pid and restore the channel layer."""
        try:
            cls._stop_live_server()
        finally:
            super().tearDownClass()

    @classmethod
    def _live_environment(cls) -> dict[str, str]:
        module = getattr(settings, "SETTINGS_MODULE", None)
        if not module:
            raise ImproperlyConfigured(
                "ChannelLiveServerTestCase starts Daphne and a worker as processes, which load "
                "the settings from DJANGO_SETTINGS_MODULE; settings.configure() cannot be used."
            )
        databases = {}
        for connection in connections.all():
            if connection.vendor == "sqlite" and connection.is_in_memory_db():
                raise ImproperlyConfigured(
                    f"ChannelLiveServerTestCase cannot use the in-memory SQLite database "
                    f"{connection.alias!r}: the server processes could not see it. Give it a "
                    "file, e.g. DATABASES['default']['TEST'] = {'NAME': 'testdb.sqlite3'}."
                )
            databases[connection.alias] = str(connection.settings_dict["NAME"])
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE=module,
            PYTHONUNBUFFERED="1",
            **{DATABASES_ENV: json.dumps(databases)},
        )
        cwd = os.getcwd()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (cwd, env.get("PYTHONPATH", "")) if p)
        return env

    @classmethod
    def _install_test_layer(cls) -> None:
        alias = cls.channel_layer_alias
        layer = channel_layers.make_test_backend(alias)
        if layer.local_only():
            raise ImproperlyConfigured(
                f"ChannelLiveServerTestCase needs a channel layer that spans processes, but "
                f"CHANNEL_LAYERS[{alias!r}] (its TEST_CONFIG) is the in-memory layer. Use e.g. "
                "asgi_redis.RedisChannelLayer or asgi_ipc.IPCChannelLayer."
            )
        if "flush" in getattr(layer, "extensions", ()):
            layer.flush()
        cls._live_old_layer = channel_layers.set(alias, layer)

    @classmethod
    def _start_live_server(cls) -> None:
        cls._live_processes = []
        env = cls._live_environment()
        cls._install_test_layer()
        alias = cls.channel_layer_alias
        daphne = LiveServerProcess(
            "daphne", ["daphne", "--alias", alias, "--host", cls.host, "--port", "0"], env
        )
        cls._live_processes.append(daphne)
        worker_args = ["worker", "--alias", alias, "--threads", str(cls.worker_threads)]
        if cls.serve_static:
            worker_args.append("--serve-static")
        worker = LiveServerProcess("worker", worker_args, env)
        cls._live_processes.append(worker)
        line = daphne.wait_for_line(LISTENING, cls.startup_timeout)
        host, port_text = line.split()[1:3]
        port = int(port_text)
        worker.wait_for_line(WORKER_READY, cls.startup_timeout)
        _wait_for_port(host, port, cls.startup_timeout)
        address = f"[{host}]" if ":" in host else host
        cls.live_server_url = f"http://{address}:{port}"
        cls.live_server_ws_url = f"ws://{address}:{port}"
        logger.info("Live server at %s (Daphne pid %s)", cls.live_server_url, daphne.pid)

    @classmethod
    def _stop_live_server(cls) -> None:
        processes: list[LiveServerProcess] = getattr(cls, "_live_processes", [])
        cls._live_processes = []
        for process in processes:
            process.stop(cls.shutdown_timeout)
        if hasattr(cls, "_live_old_layer"):
            layer = channel_layers.set(cls.channel_layer_alias, cls._live_old_layer)
            del cls._live_old_layer
            _close(layer)


def _close(layer: Any) -> None:
    close = getattr(getattr(layer, "channel_layer", None), "close", None)
    if callable(close):
        close()
