"""A child process in its own session whose merged output is collected line by line.

Shared by the runserver, end-to-end and live JavaScript tests, which all start real
``daphne``/``runworker``/``runserver`` processes and wait for lines in their output.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

__all__ = ["WatchedProcess"]


class WatchedProcess:
    """Run ``args``; keep every output line; stop the whole process group on ``stop``."""

    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        cwd: Path | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        stop_wait: float = 20,
        start_timeout: float = 90,
    ) -> None:
        self.name = name
        self.stop_signal = stop_signal
        self.stop_wait = stop_wait
        self.start_timeout = start_timeout
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            args,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            start_new_session=True,
        )
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        stdout = self.popen.stdout
        if stdout is None:
            return
        for line in stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float | None = None) -> re.Match[str]:
        """Return the first output line matching ``pattern``; fail with the output otherwise."""
        compiled = re.compile(pattern)
        for line in self.lines:
            if found := compiled.search(line):
                return found
        deadline = time.monotonic() + (self.start_timeout if timeout is None else timeout)
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if found := compiled.search(line):
                return found
        raise AssertionError(
            f"{self.name}: no output line matched {pattern!r}; output:\n" + "\n".join(self.lines)
        )

    def stop(self) -> int:
        """Signal the process group (SIGKILL if it outlives ``stop_wait``); return the code."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, self.stop_signal)
            try:
                self.popen.wait(self.stop_wait)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(self.stop_wait)
        self._pump_thread.join(self.stop_wait)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        return self.popen.returncode
