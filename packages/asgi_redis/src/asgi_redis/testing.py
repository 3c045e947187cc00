"""Test helpers: a throwaway redis-server, and a local-variant layer that leaves no shared memory.

:class:`RedisServer` runs a private ``redis-server`` on 127.0.0.1 (no persistence)
that a test can stop and start again, to see how code copes with a Redis
restart. ``python -m asgi_conformance
asgi_redis.testing:TemporaryRedisLocalChannelLayer`` runs the conformance suite
against :class:`~asgi_redis.RedisLocalChannelLayer` without leaving segments in
``/dev/shm``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import redis

from .local import RedisLocalChannelLayer

__all__ = ["RedisServer", "TemporaryRedisLocalChannelLayer", "free_port"]


def free_port(ports: Iterable[int] | None = None) -> int:
    """Return a free TCP port on 127.0.0.1: the first free one of ``ports``, or any."""
    for port in ports if ports is not None else (0,):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError(f"no free port among {ports!r}")


class RedisServer:
    """A ``redis-server`` a test owns, on 127.0.0.1: start, stop (by pid) and start again.

    ``directory`` is its working directory (nothing is saved there); ``port``
    defaults to a free one; ``extra`` are more ``redis-server`` arguments, such
    as ``"--replicaof", "127.0.0.1", "6379"``. The port stays the same across
    restarts, so layers built on :attr:`url` reconnect by themselves.
    """

    def __init__(self, directory: Path | str, port: int | None = None, *extra: str) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's ``redis://`` URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it answers PING; raise RuntimeError if it does not."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH; install Redis to use RedisServer.")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise RuntimeError(f"redis-server on port {self.port} did not start within {timeout} s")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds); safe to repeat."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TemporaryRedisLocalChannelLayer(RedisLocalChannelLayer):
    """A :class:`RedisLocalChannelLayer` whose IPC part is removed at interpreter exit.

    Every instance in a process shares one random IPC prefix (as the processes of a
    deployment share theirs), created by ``asgi_ipc.testing``.
    """

    def make_local_layer(self, prefix: str, options: dict[str, Any]) -> Any:
        """Return a temporary IPC layer, ignoring ``prefix`` for a per-process random one."""
        try:
            from asgi_ipc.testing import TemporaryIPCChannelLayer
        except ImportError as exc:
            raise ImportError(
                "TemporaryRedisLocalChannelLayer needs asgi-ipc: pip install 'asgi-redis[local]'."
            ) from exc
        return TemporaryIPCChannelLayer(**options)
