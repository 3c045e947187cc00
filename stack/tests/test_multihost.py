"""The tutorial chat across three "machines": Linux network namespaces joined by a bridge.

Topology (see stack/README.md), created by this test and removed afterwards::

    ns <run>-c  client   10.231.0.4 ─┐
    ns <run>-d  daphne   10.231.0.1 ─┤
    ns <run>-w  workers  10.231.0.2 ─┼─ bridge br0 in ns <run>-sw
    ns <run>-r  redis    10.231.0.3 ─┘   (two shards: ports 16590 and 16591)

Every interface lives inside a namespace this test creates (a veth pair is
created inside the switch namespace with its peer moved straight into the host
namespace), so no real interface or address of the machine is touched. Needs
root; under CI=true not being root is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from stackharness import STACK_DIR, Proc, wait_until

pytestmark = [pytest.mark.netns, pytest.mark.slow]

REPO = STACK_DIR.parent
CHAT_DIR = REPO / "examples" / "chat"
SUBNET = "10.231.0"
HOSTS = {"d": 1, "w": 2, "r": 3, "c": 4}
SHARD_PORTS = (16590, 16591)


def _ip(*args: str, netns: str | None = None) -> None:
    command = ["ip", *args] if netns is None else ["ip", "netns", "exec", netns, "ip", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")


def _require_root_and_ip() -> None:
    problem = None
    if os.geteuid() != 0:
        problem = "network namespaces need root"
    elif shutil.which("ip") is None:
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "iproute2"], capture_output=True, timeout=600
        )
        if shutil.which("ip") is None:
            problem = "`ip` is missing and apt-get install iproute2 failed"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)


@dataclass
class Network:
    """The namespaces of one test run and the processes started inside them."""

    run: str
    processes: list[Proc] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def ns(self, role: str) -> str:
        return f"{self.run}-{role}"

    def address(self, role: str) -> str:
        return f"{SUBNET}.{HOSTS[role]}"

    def build(self) -> None:
        switch = self.ns("sw")
        _ip("netns", "add", switch)
        self.created.append(switch)
        _ip("link", "add", "br0", "type", "bridge", netns=switch)
        _ip("link", "set", "br0", "up", netns=switch)
        for role in HOSTS:
            name = self.ns(role)
            _ip("netns", "add", name)
            self.created.append(name)
            _ip(
                "link",
                "add",
                f"v{role}",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                name,
                netns=switch,
            )
            _ip("link", "set", f"v{role}", "master", "br0", "up", netns=switch)
            _ip("addr", "add", f"{self.address(role)}/24", "dev", "eth0", netns=name)
            _ip("link", "set", "eth0", "up", netns=name)
            _ip("link", "set", "lo", "up", netns=name)

    def exec_prefix(self, role: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(role)]

    def tear_down(self) -> None:
        for proc in reversed(self.processes):
            proc.stop(timeout=20)
        for name in reversed(self.created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


class Shard:
    """A redis-server inside the Redis namespace, stoppable and restartable."""

    def __init__(self, network: Network, port: int, state: Path) -> None:
        self.network = network
        self.port = port
        self.state = state
        self.proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.network.address('r')}:{self.port}/0"

    def start(self) -> None:
        self.proc = Proc(
            f"redis{self.port}",
            [
                *self.network.exec_prefix("r"),
                *("redis-server", "--bind", self.network.address("r"), "--port", str(self.port)),
                *("--save", "", "--appendonly", "no", "--dir", str(self.state)),
                *("--protected-mode", "no"),
            ],
            dict(os.environ),
        )
        self.network.processes.append(self.proc)
        self.proc.wait_for(r"Ready to accept connections", timeout=60)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.signal(9)
        self.proc.wait(30)


@pytest.fixture
def network() -> Iterator[Network]:
    _require_root_and_ip()
    net = Network(run=f"stk{os.getpid() % 100000}")
    try:
        net.build()
        yield net
    finally:
        net.tear_down()


def _run_client(network: Network, room: str, suffix: str) -> dict[str, object]:
    done = subprocess.run(
        [
            *network.exec_prefix("c"),
            *(sys.executable, str(Path(__file__).with_name("multihost_client.py"))),
            *(f"http://{network.address('d')}:8000", room, suffix),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = done.stdout.strip().splitlines()
    if not lines:
        return {"ok": False, "error": done.stderr[-2000:]}
    return dict(json.loads(lines[-1]))


def test_chat_works_across_hosts_and_survives_a_shard_restart(
    network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    state = Path(tempfile.mkdtemp(prefix="stack-multihost-"))
    try:
        shards = [Shard(network, port, state) for port in SHARD_PORTS]
        for shard in shards:
            shard.start()
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="multihost_chat_settings",
            PYTHONPATH=os.pathsep.join([str(CHAT_DIR), str(STACK_DIR)]),
            PYTHONUNBUFFERED="1",
            CHAT_LAYER="redis",
            CHAT_STATE_DIR=str(state),
            CHAT_REDIS_PREFIX=f"{network.run}:",
            CHAT_ALLOWED_HOSTS=network.address("d"),
            STACK_REDIS_HOSTS=",".join(shard.url for shard in shards),
        )
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=CHAT_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        daphne = Proc(
            "daphne",
            [
                *network.exec_prefix("d"),
                *(sys.executable, "-m", "daphne", "-b", network.address("d"), "-p", "8000"),
                "chat_site.asgi:channel_layer",
            ],
            env,
            cwd=CHAT_DIR,
        )
        network.processes.append(daphne)
        workers = [
            Proc(
                f"worker{n}",
                [
                    *network.exec_prefix("w"),
                    sys.executable,
                    "manage.py",
                    "runworker",
                    "--threads",
                    "2",
                ],
                env,
                cwd=CHAT_DIR,
            )
            for n in (1, 2)
        ]
        network.processes.extend(workers)
        daphne.wait_for(r"Daphne ready")
        for worker in workers:
            worker.wait_for(r"Listening on channels")

        def output() -> str:
            return "\n".join(
                f"[{p.name}] {line}" for p in network.processes for line in p.lines[-30:]
            )

        first = _run_client(network, "lobby", "1")
        assert first.get("ok"), (first, output())

        # Restart the second shard (SIGKILL: its data is gone); the stack recovers on its own.
        shards[1].kill()
        time.sleep(2)
        shards[1].start()
        attempts: list[dict[str, object]] = []

        def chat_again() -> bool:
            attempts.append(_run_client(network, f"after{len(attempts)}", f"r{len(attempts)}"))
            return bool(attempts[-1].get("ok"))

        assert wait_until(chat_again, 120, interval=2), (attempts, output())
        failed = [attempt.get("error") for attempt in attempts[:-1]]
        with capsys.disabled():
            print(
                f"\nchat after the shard restart worked on attempt {len(attempts)}; "
                f"earlier attempts: {failed}"
            )
        assert daphne.popen.poll() is None and all(w.popen.poll() is None for w in workers)
    finally:
        shutil.rmtree(state, ignore_errors=True)
