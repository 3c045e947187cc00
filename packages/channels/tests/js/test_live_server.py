"""The WebSocket bridge in real headless Chromium against a live Channels site.

The site (liveproject/) runs as real ``daphne`` and ``runworker`` processes on
the IPC layer with a unique prefix and its own SQLite file. Its page loads the
shipped websocketbridge.js through ``{% static %}`` and the bridge connects to
the relative URL ``/mux/``, a ``WebsocketDemultiplexer`` carrying an echo
stream and a ``WebsocketBinding`` stream. The test checks connect, send and
receive through a stream, binding frames for a model saved in the worker, and
that the bridge reconnects and works again after Daphne restarts on the same
port. Afterwards the processes get SIGTERM and the shared memory is removed.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bridge_harness import WAIT_MS, BridgePage
from watched_process import WatchedProcess

JS_DIR = Path(__file__).resolve().parent
START_TIMEOUT = 90.0
# Reconnect quickly after the restart; generous open timeout for a loaded machine.
RECONNECT_OPTIONS = {
    "minReconnectionDelay": 100,
    "maxReconnectionDelay": 1000,
    "reconnectionDelayGrowFactor": 1.5,
    "connectionTimeout": 10000,
}


class Process(WatchedProcess):
    """A process of the live site, run from this folder."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        super().__init__(name, args, env, cwd=JS_DIR, start_timeout=START_TIMEOUT)


@dataclass
class LiveSite:
    """The running site: environment, port and processes."""

    env: dict[str, str]
    port: int = 0
    daphne: Process | None = None
    processes: list[Process] = field(default_factory=list)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_daphne(self) -> None:
        """Start Daphne on ``port`` (0 the first time: a free port, then kept)."""
        daphne = Process(
            "daphne",
            [
                *(sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)),
                "liveproject.asgi:channel_layer",
            ],
            self.env,
        )
        self.processes.append(daphne)
        self.daphne = daphne
        found = daphne.wait_for(r"Listening on TCP address 127\.0\.0\.1:(\d+)")
        self.port = int(found.group(1))

    def restart_daphne(self) -> None:
        """Stop Daphne and start it again on the same port."""
        assert self.daphne is not None
        self.daphne.stop()
        self.start_daphne()

    def save(self, name: str, value: int) -> dict[str, Any]:
        """Save a Value through the site's view, so the binding fires in the worker."""
        url = f"{self.http_url}/save/?name={name}&value={value}"
        with urllib.request.urlopen(url, timeout=WAIT_MS / 1000) as response:
            return dict(json.loads(response.read()))

    def output(self) -> str:
        return "\n".join(f"[{p.name}] {line}" for p in self.processes for line in p.lines)


@pytest.fixture(scope="module")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """Run liveproject as daphne + runworker on a fresh IPC prefix and SQLite file."""
    from asgi_ipc.testing import remove_prefix

    prefix = f"jslive{secrets.token_hex(4)}"
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="liveproject.settings",
        PYTHONPATH=os.pathsep.join(p for p in (str(JS_DIR), env.get("PYTHONPATH", "")) if p),
        PYTHONUNBUFFERED="1",
        LIVE_IPC_PREFIX=prefix,
        LIVE_DB_PATH=str(tmp_path_factory.mktemp("liveproject") / "db.sqlite3"),
    )
    migrate = subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--run-syncdb", "--noinput"],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    site = LiveSite(env=env)
    try:
        worker = Process(
            "worker",
            [sys.executable, "-m", "django", "runworker", "--threads", "2", "-v", "2"],
            env,
        )
        site.processes.append(worker)
        site.start_daphne()
        worker.wait_for(r"Listening on channels")
        yield site
    finally:
        for process in site.processes:
            process.stop()
        remove_prefix(prefix)


def frames(bridge_page: BridgePage, stream: str) -> list[Any]:
    """Return the payloads the page's demultiplex() handler got on ``stream`` so far."""
    return [
        entry["payload"]
        for entry in bridge_page.js("() => __log.streams")
        if entry["stream"] == stream
    ]


def wait_frames(bridge_page: BridgePage, stream: str, count: int) -> list[Any]:
    """Wait until ``count`` payloads arrived on ``stream``; return them all."""
    bridge_page.wait_until(
        f"__log.streams.filter((e) => e.stream === {json.dumps(stream)}).length >= {count}"
    )
    return frames(bridge_page, stream)


def test_bridge_against_live_daphne_and_worker(live_site: LiveSite, page: Any) -> None:
    """Connect, echo through a stream, receive binding frames, survive a Daphne restart."""
    try:
        check_live_site(live_site, BridgePage(page))
    except BaseException:
        # Shown by pytest on failure: what the server processes and the page said.
        print(live_site.output())
        print("page console errors:", page.console_errors, "page errors:", page.page_errors)
        raise


def check_live_site(live_site: LiveSite, bridge_page: BridgePage) -> None:
    """Run the checks of the test above."""
    bridge_page.open(f"{live_site.http_url}/")
    url = bridge_page.connect("/mux/", options=RECONNECT_OPTIONS)
    assert url == f"ws://127.0.0.1:{live_site.port}/mux/"
    bridge_page.demultiplex("echo")
    bridge_page.demultiplex("values")
    bridge_page.wait_open()

    # Send + receive through the demultiplexer's echo stream.
    bridge_page.stream_send("echo", {"n": 1, "text": "héllo ✓"})
    assert wait_frames(bridge_page, "echo", 1) == [{"echo": {"n": 1, "text": "héllo ✓"}}]

    # A model saved in the worker reaches the page as binding create / update frames.
    created = live_site.save("alpha", 1)
    assert created["created"] is True
    live_site.save("alpha", 2)
    values = wait_frames(bridge_page, "values", 2)
    assert values == [
        {
            "action": "create",
            "pk": created["pk"],
            "data": {"name": "alpha", "value": 1},
            "model": "liveproject.value",
        },
        {
            "action": "update",
            "pk": created["pk"],
            "data": {"name": "alpha", "value": 2},
            "model": "liveproject.value",
        },
    ]
    # Nothing fell through to listen(): every frame had a demultiplex() handler.
    assert bridge_page.js("() => __log.messages") == []

    # Restart Daphne on the same port: the bridge reconnects by itself.
    live_site.restart_daphne()
    bridge_page.wait_until("__log.closes.length >= 1")
    bridge_page.wait_open(count=2)
    assert bridge_page.js("() => __bridge.socket.url") == url

    bridge_page.stream_send("echo", {"n": 2})
    assert wait_frames(bridge_page, "echo", 2)[1] == {"echo": {"n": 2}}
    live_site.save("alpha", 3)
    values = wait_frames(bridge_page, "values", 3)
    assert values[2] == {
        "action": "update",
        "pk": created["pk"],
        "data": {"name": "alpha", "value": 3},
        "model": "liveproject.value",
    }
    assert bridge_page.js("() => __log.messages") == []
