"""Start one benchmark configuration's server processes and make sure they all die.

Every process gets its own session (``start_new_session``), so stopping it means
signalling its process group by the pid we recorded: SIGTERM, a grace period,
then SIGKILL. ``Deployment`` is a context manager; an ``atexit`` hook and a
SIGTERM handler in the bench script stop whatever is still registered, so a
failed or interrupted run never leaves servers behind.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Deployment", "StartupError", "free_port", "stop_all"]

logger = logging.getLogger(__name__)

PROJECT = Path(__file__).resolve().parent
_LIVE: set[subprocess.Popen[bytes]] = set()


class StartupError(RuntimeError):
    """A configuration's servers did not answer in time."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    else:
        # The leader is gone; anything it left in its group goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    _LIVE.discard(process)


def stop_all() -> None:
    """Stop every process still running (atexit / signal hook)."""
    for process in list(_LIVE):
        _stop(process, 3.0)


atexit.register(stop_all)


@dataclass
class Deployment:
    """The processes of one configuration: a front server plus optional workers."""

    name: str
    commands: list[list[str]]
    env: dict[str, str]
    port: int
    log_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, timeout: float = 90.0) -> None:
        """Start every command and wait until ``/hello`` answers 200."""
        environment = dict(os.environ, PYTHONPATH=str(PROJECT), **self.env)
        environment.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")
        for index, command in enumerate(self.commands):
            log = (self.log_dir / f"{self.name}-{index}.log").open("ab")
            process = subprocess.Popen(
                command,
                cwd=PROJECT,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            _LIVE.add(process)
            self.processes.append(process)
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/hello"
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise StartupError(
                        f"{self.name}: {process.args!r} exited with {process.returncode}; "
                        f"see {self.log_dir}/{self.name}-*.log"
                    )
            try:
                with urllib.request.urlopen(url, timeout=5) as reply:
                    if reply.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                time.sleep(0.3)
        raise StartupError(f"{self.name}: {url} did not answer 200 within {timeout:.0f} s")

    def stop(self) -> None:
        """Stop every process (SIGTERM to its group, SIGKILL after 10 s)."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            _stop(process, 10.0)
        self.processes.clear()

    def __enter__(self) -> Deployment:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
