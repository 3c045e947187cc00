"""Start the stack test site as real processes: daphne, runworkers and private Redis servers.

Every :class:`Site` has its own layer prefix and record directory; its
processes run in their own session so a test can signal one of them by pid.
Endpoints come from the environment that ``scripts/services.sh env`` prints.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import redis
from asgi_ipc.testing import remove_prefix

STACK_DIR = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")
REDIS_URL_2 = os.environ.get("ASGI_REDIS_URL_2", "redis://127.0.0.1:16380/0")
RABBITMQ_URL = os.environ.get("ASGI_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5673/%2F")
START_TIMEOUT = 120.0
_LISTENING = re.compile(r"Listening on TCP address [^\s:]+:(\d+)")


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Return the first truthy value of ``predicate()`` within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


class Proc:
    """A child process (own session) whose merged output is collected line by line."""

    def __init__(
        self, name: str, args: Sequence[str], env: dict[str, str], cwd: Path = STACK_DIR
    ) -> None:
        self.name = name
        self.popen = subprocess.Popen(
            list(args),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.port = 0  # Daphne's listening port, once known
        self.reply_prefix = ""  # Daphne's reply channel prefix, once known
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        """Return the first output line matching ``pattern``; fail with the output otherwise."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if found := compiled.search(line):
                    return found
            seen = len(self.lines)
            if self.popen.poll() is not None and self._queue.empty() and not self._pump.is_alive():
                break
            if time.monotonic() > deadline:
                break
            try:
                self._queue.get(timeout=0.2)
            except queue.Empty:
                pass
        raise AssertionError(
            f"{self.name}: no line matched {pattern!r} within {timeout}s; output:\n"
            + "\n".join(self.lines[-60:])
        )

    def signal(self, signo: int) -> None:
        """Send ``signo`` to this process only."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signo)

    def wait(self, timeout: float) -> int | None:
        """Return the exit code, or None if still running after ``timeout`` seconds."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 30.0) -> int:
        """Stop with SIGTERM (SIGKILL after ``timeout``) and return the exit code."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(30)
        self._pump.join(10)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        return self.popen.returncode

    def rss_kib(self) -> int:
        """Return the resident set size in KiB (from /proc)."""
        return rss_kib(self.popen.pid)


def rss_kib(pid: int) -> int:
    """Return the resident set size of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def free_port(start: int, stop: int) -> int:
    """Return a port in [start, stop) that nothing listens on."""
    for port in range(start, stop):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {start}-{stop - 1}")


class OwnRedis:
    """A private redis-server (ports 16500-16599) a test may stop and start again."""

    def __init__(self, port: int | None = None, bind: str = "127.0.0.1") -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.port = port or free_port(16500, 16600)
        self.bind = bind
        self.dir = Path(tempfile.mkdtemp(prefix=f"stack-redis-{self.port}-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.bind}:{self.port}/0"

    def command(self) -> list[str]:
        """Return the redis-server command line (no persistence, foreground)."""
        return [
            "redis-server",
            *("--bind", self.bind, "--port", str(self.port), "--dir", str(self.dir)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            *("--logfile", str(self.dir / "redis.log")),
        ]

    def start(self, prefix: Sequence[str] = ()) -> None:
        """Start the server (optionally under a command prefix) and wait until it answers."""
        self.process = subprocess.Popen(
            [*prefix, *self.command()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not wait_until(self.ping, 30):
            raise RuntimeError(f"own redis-server on {self.url} did not start; see {self.dir}")

    def ping(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server by pid (SIGKILL: an abrupt crash) and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def redis_reachable(url: str) -> bool:
    """Return True if the Redis server at ``url`` answers PING."""
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def rabbitmq_reachable(url: str) -> bool:
    """Return True if the RabbitMQ broker at ``url`` accepts a connection."""
    import pika
    import pika.exceptions

    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except pika.exceptions.AMQPError:
        return False
    return True


class Site:
    """The stack test site on one layer: processes, environment, records."""

    def __init__(
        self,
        layer: str = "redis",
        redis_hosts: Sequence[str] = (REDIS_URL,),
        rabbitmq_url: str = RABBITMQ_URL,
        encryption_key: str | None = None,
        python: Sequence[str] = (sys.executable,),
    ) -> None:
        self.layer = layer
        self.redis_hosts = list(redis_hosts)
        self.rabbitmq_url = rabbitmq_url
        self.prefix = f"stk{secrets.token_hex(4)}"
        self.record_dir = Path(tempfile.mkdtemp(prefix="stack-records-"))
        self.python = list(python)
        self.env = dict(os.environ)
        self.env.update(
            DJANGO_SETTINGS_MODULE="stack_site.settings",
            PYTHONPATH=str(STACK_DIR),
            PYTHONUNBUFFERED="1",
            STACK_LAYER=layer,
            STACK_REDIS_HOSTS=",".join(self.redis_hosts),
            STACK_RABBITMQ_URL=rabbitmq_url,
            STACK_PREFIX=self.prefix,
            STACK_RECORD_DIR=str(self.record_dir),
        )
        if encryption_key:
            self.env["STACK_ENCRYPTION_KEY"] = encryption_key
        self.daphne: Proc | None = None
        self.workers: list[Proc] = []
        self.processes: list[Proc] = []
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start_daphne(self, *options: str, bind: str = "127.0.0.1") -> Proc:
        """Start Daphne with extra CLI ``options`` and wait until it listens."""
        proc = Proc(
            "daphne",
            [
                *self.python,
                *("-m", "daphne", "-b", bind, "-p", "0", *options),
                "stack_site.asgi:channel_layer",
            ],
            self.env,
        )
        self.processes.append(proc)
        proc.port = int(proc.wait_for(_LISTENING.pattern).group(1))
        proc.reply_prefix = proc.wait_for(r"reply prefix (\S+)").group(1)
        self.port = proc.port
        self.host = bind
        self.daphne = proc
        return proc

    def start_worker(self, threads: int = 1, wait: bool = True) -> Proc:
        """Start ``manage.py runworker`` and (by default) wait until it listens."""
        proc = Proc(
            f"worker{len(self.workers) + 1}",
            [*self.python, "manage.py", "runworker", "--threads", str(threads)],
            self.env,
        )
        self.processes.append(proc)
        self.workers.append(proc)
        if wait:
            proc.wait_for(r"Listening on channels")
        return proc

    def records(self, pid: int | None = None) -> list[dict[str, Any]]:
        """Return every recorded message (of one worker pid, or of all)."""
        found: list[dict[str, Any]] = []
        for path in sorted(self.record_dir.glob("*.jsonl")):
            if pid is not None and path.stem != str(pid):
                continue
            # A line still being written has no newline yet: leave it for the next call.
            for line in path.read_text(encoding="utf-8").split("\n")[:-1]:
                if line.strip():
                    found.append(json.loads(line))
        return found

    def raw_records(self) -> str:
        """Return all record files as one text (to search for markers)."""
        return "".join(p.read_text(encoding="utf-8") for p in self.record_dir.glob("*.jsonl"))

    def output(self) -> str:
        """Return the last lines every process printed, for failure messages."""
        return "\n".join(f"[{p.name}] {line}" for p in self.processes for line in p.lines[-40:])

    def close(self) -> None:
        """Stop every process, drop the layer's data and the record directory."""
        for proc in reversed(self.processes):
            proc.stop()
        if self.layer == "redis":
            for url in self.redis_hosts:
                client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
                try:
                    keys = list(client.scan_iter(f"{self.prefix}:*", count=500))
                    if keys:
                        client.delete(*keys)
                except redis.RedisError:
                    pass
                finally:
                    client.close()
        elif self.layer == "ipc":
            remove_prefix(self.prefix)
        elif self.layer == "rabbitmq":
            from asgi_rabbitmq import RabbitmqChannelLayer
            from asgi_rabbitmq.testing import delete_namespace

            layer = RabbitmqChannelLayer(self.rabbitmq_url, prefix=self.prefix)
            try:
                delete_namespace(layer)
            except Exception:  # the broker may be gone (a restart test); queues expire anyway
                pass
            finally:
                layer.close()
        shutil.rmtree(self.record_dir, ignore_errors=True)


class OwnRabbit:
    """A private rabbitmq-server node (AMQP 5710-5719, dist 25710-25719) a test may restart."""

    def __init__(self) -> None:
        if shutil.which("rabbitmq-server") is None:
            raise RuntimeError("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
        self.port = free_port(5710, 5720)
        self.dist_port = 25710 + (self.port - 5710)
        self.node = f"stack_faults_{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"
        self.state = Path(tempfile.mkdtemp(prefix="stack-rabbit-"))
        self.process: subprocess.Popen[bytes] | None = None
        for sub in ("log", "mnesia"):
            (self.state / sub).mkdir()
        (self.state / "enabled_plugins").write_text("[].\n")
        (self.state / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n"
            "vm_memory_high_watermark.relative = 0.1\n"
            "disk_free_limit.absolute = 50MB\n"
        )
        if os.geteuid() == 0:  # Debian's wrapper runs the node as the rabbitmq user
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
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none",
            ERL_EPMD_ADDRESS="127.0.0.1",
            HOME=str(self.state),
        )
        return env

    def ping(self) -> bool:
        import pika
        import pika.exceptions

        try:
            pika.BlockingConnection(pika.URLParameters(self.url)).close()
        except pika.exceptions.AMQPError:
            return False
        return True

    def start(self, timeout: float = 180.0) -> None:
        """Start the node and wait until it accepts AMQP connections."""
        with open(self.state / "server.out", "ab") as log:
            self.process = subprocess.Popen(
                ["rabbitmq-server"],
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if not wait_until(self.ping, timeout, interval=0.5):
            raise RuntimeError(
                f"own RabbitMQ node on port {self.port} did not start; see {self.state}"
            )

    def stop(self) -> None:
        """Stop the node by its pid (SIGKILL of the Erlang VM: a crash) and wait for it."""
        if self.process is None:
            return
        try:
            beam = int((self.state / "rabbitmq.pid").read_text().strip())
            os.kill(beam, signal.SIGKILL)
        except (OSError, ValueError):
            pass
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        (self.state / "rabbitmq.pid").unlink(missing_ok=True)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.state, ignore_errors=True)
