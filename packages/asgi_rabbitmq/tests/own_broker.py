"""Start and stop a private RabbitMQ node for fault tests (never the shared one)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pika
import pika.exceptions

__all__ = ["OwnBroker"]


class OwnBroker:
    """A rabbitmq-server node on its own ports, names and state directory."""

    def __init__(self, port: int = 5701, dist_port: int = 25701) -> None:
        self.port = port
        self.dist_port = dist_port
        self.node = f"rabbit_restart_test_{port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{port}/%2F"
        self.state = Path(tempfile.mkdtemp(prefix="asgi-rabbitmq-node-"))
        self.process: subprocess.Popen[bytes] | None = None
        for sub in ("log", "mnesia"):
            (self.state / sub).mkdir()
        (self.state / "enabled_plugins").write_text("[].\n")
        (self.state / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{port}\n"
            "loopback_users = none\n"
            "vm_memory_high_watermark.relative = 0.1\n"
            "disk_free_limit.absolute = 50MB\n"
        )
        # Debian's wrapper drops root to the rabbitmq user, which must own the state.
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(self.state)], check=True)
            self.state.chmod(0o755)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.state / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.state / "log"),
            RABBITMQ_PID_FILE=str(self.state / "rabbitmq.pid"),
            RABBITMQ_CONFIG_FILE=str(self.state / "rabbitmq"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.state / "enabled_plugins"),
            ERL_EPMD_ADDRESS="127.0.0.1",
            HOME=str(self.state),
        )
        return env

    def start(self, timeout: float = 120.0) -> None:
        """Start the node and wait until it accepts AMQP connections."""
        if shutil.which("rabbitmq-server") is None:
            raise RuntimeError("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
        log = open(self.state / "server.out", "ab")
        self.process = subprocess.Popen(
            ["rabbitmq-server"],
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"rabbitmq-server exited with {self.process.returncode}; see "
                    f"{self.state / 'server.out'}"
                )
            try:
                pika.BlockingConnection(pika.URLParameters(self.url)).close()
                return
            except pika.exceptions.AMQPError:
                time.sleep(0.5)
        raise RuntimeError(f"own RabbitMQ node on port {self.port} did not start in {timeout}s")

    def _beam_pid(self) -> int | None:
        try:
            return int((self.state / "rabbitmq.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the node (by pid) and wait for it to exit."""
        if self.process is None:
            return
        pid = self._beam_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        if pid is not None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        (self.state / "rabbitmq.pid").unlink(missing_ok=True)
        self.process = None

    def cleanup(self) -> None:
        """Stop the node and delete its state directory."""
        self.stop()
        shutil.rmtree(self.state, ignore_errors=True)
