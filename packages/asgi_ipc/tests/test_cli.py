"""The python -m asgi_ipc command: list, inspect, check and remove."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

from asgi_ipc import IPCChannelLayer

from .conftest import leftovers


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asgi_ipc", *args], capture_output=True, text=True, timeout=120
    )


def test_inspect_shows_queues_groups_and_memory(
    make_layer: Callable[..., IPCChannelLayer], prefix: str
) -> None:
    layer = make_layer()
    for _ in range(3):
        layer.send("deep", {"x": 1})
    layer.send("reply!a", {})
    layer.group_add("room", "deep")
    listed = cli("list")
    assert prefix in listed.stdout.split()
    text = cli("inspect", "--prefix", prefix)
    assert text.returncode == 0, text.stderr
    assert "messages pending: 4 in 2 queues" in text.stdout
    data = json.loads(cli("inspect", "--prefix", prefix, "--json").stdout)
    assert data["queues"] == [["deep", 3], ["reply!", 1]]
    assert data["groups"] == [["room", 1]]
    assert data["message_memory"]["blocks_used"] == 4
    checked = cli("check", "--prefix", prefix)
    assert checked.returncode == 0 and "consistent" in checked.stdout


def test_remove_deletes_segment_and_semaphores(
    make_layer: Callable[..., IPCChannelLayer], prefix: str
) -> None:
    layer = make_layer(receive_timeout=0.05)
    layer.receive(["x"], block=True)  # creates a waiter semaphore
    layer.close()
    assert len(leftovers(prefix)) == 2
    removed = cli("remove", "--prefix", prefix)
    assert removed.returncode == 0
    assert removed.stdout.count("removed") == 2
    assert leftovers(prefix) == []


def test_inspect_unknown_prefix_is_a_clear_error(prefix: str) -> None:
    result = cli("inspect", "--prefix", prefix)
    assert result.returncode == 2
    assert f"no shared memory for prefix {prefix!r}" in result.stderr
    assert leftovers(prefix) == []
    bad = cli("remove", "--prefix", "bad name")
    assert bad.returncode == 2 and "prefix" in bad.stderr
