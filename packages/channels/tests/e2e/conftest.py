"""Run the tutorial chat site (examples/chat) as real ``daphne`` + ``runworker`` processes.

``deployment`` starts one per layer (Redis and IPC) per test module, and
``runserver_site`` starts ``manage.py runserver`` on the in-memory layer as
``make run`` does; each has a unique prefix and its own SQLite database and is
torn down afterwards: the processes get SIGTERM, then the layer's keys or
shared memory are removed.
Redis comes from ASGI_REDIS_URL (default redis://127.0.0.1:16379/0); when it is
unreachable the Redis tests skip, or fail when CI=true.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from watched_process import WatchedProcess

REPO = Path(__file__).resolve().parents[4]
CHAT_DIR = REPO / "examples" / "chat"
REDIS_URL = os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")
START_TIMEOUT = 90


class Process(WatchedProcess):
    """A process of the chat site, run from examples/chat."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        super().__init__(name, args, env, cwd=CHAT_DIR, start_timeout=START_TIMEOUT)


@dataclass
class Deployment:
    """A running chat site: its URL, environment and processes."""

    layer: str
    env: dict[str, str]
    port: int = 0
    processes: list[Process] = field(default_factory=list)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def output(self) -> str:
        """Return everything the processes printed, for failure messages."""
        return "\n".join(f"[{p.name}] {line}" for p in self.processes for line in p.lines)


def _redis_reachable() -> bool:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def _environment(layer: str, state_dir: Path, prefix: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="chat_site.settings",
        PYTHONPATH=str(CHAT_DIR),
        PYTHONUNBUFFERED="1",
        CHAT_LAYER=layer,
        CHAT_STATE_DIR=str(state_dir),
        CHAT_DEBUG="1",
        CHAT_REDIS_URL=REDIS_URL,
        CHAT_REDIS_PREFIX=f"{prefix}:",
        CHAT_IPC_PREFIX=prefix,
    )
    return env


def _cleanup_layer(layer: str, prefix: str) -> None:
    if layer == "redis":
        from asgi_redis import RedisChannelLayer

        redis_layer = RedisChannelLayer(hosts=[REDIS_URL], prefix=f"{prefix}:")
        try:
            redis_layer.flush()
        finally:
            redis_layer.close()
    else:
        subprocess.run(
            [sys.executable, "-m", "asgi_ipc", "remove", "--prefix", prefix],
            check=True,
            capture_output=True,
            timeout=60,
        )


def _start_runserver(site: Deployment) -> None:
    server = Process(
        "runserver",
        [sys.executable, "manage.py", "runserver", "127.0.0.1:0", "--noreload"],
        site.env,
    )
    site.processes.append(server)
    found = server.wait_for(r"Starting Channels development server at http://127\.0\.0\.1:(\d+)/")
    site.port = int(found.group(1))


def _start_daphne_and_workers(site: Deployment) -> None:
    daphne = Process(
        "daphne",
        [
            *(sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", "0"),
            *("--access-log", "-", "chat_site.asgi:channel_layer"),
        ],
        site.env,
    )
    site.processes.append(daphne)
    for number in (1, 2):
        worker = Process(
            f"worker{number}",
            [sys.executable, "manage.py", "runworker", "--threads", "2", "-v", "2"],
            site.env,
        )
        site.processes.append(worker)
    site.port = int(daphne.wait_for(r"Listening on TCP address 127\.0\.0\.1:(\d+)").group(1))
    for worker in site.processes[1:]:
        worker.wait_for(r"Listening on channels")


@contextlib.contextmanager
def _deploy(layer: str, state_dir: Path) -> Iterator[Deployment]:
    if layer == "redis" and not _redis_reachable():
        message = f"Redis at {REDIS_URL} is unreachable (start it with `make services`)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    if layer != "inmemory":
        pytest.importorskip({"redis": "asgi_redis", "ipc": "asgi_ipc"}[layer])
    prefix = f"e2e{secrets.token_hex(4)}"
    env = _environment(layer, state_dir, prefix)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=CHAT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    site = Deployment(layer=layer, env=env)
    try:
        if layer == "inmemory":
            _start_runserver(site)
        else:
            _start_daphne_and_workers(site)
        yield site
    finally:
        for process in site.processes:
            process.stop()
        if layer != "inmemory":
            _cleanup_layer(layer, prefix)


@pytest.fixture(scope="module", params=["redis", "ipc"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """Start the chat site as daphne + two runworkers on the Redis or the IPC layer."""
    layer: str = request.param
    with _deploy(layer, tmp_path_factory.mktemp(f"chat-{layer}")) as site:
        yield site


@pytest.fixture(scope="module")
def runserver_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Start the chat site as `make run` does: runserver on the in-memory layer."""
    with _deploy("inmemory", tmp_path_factory.mktemp("chat-runserver")) as site:
        yield site
