"""A process killed mid-operation never wedges or corrupts the others."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from asgi_ipc import IPCChannelLayer
from asgi_ipc._reset import reset_pending
from asgi_ipc._store import _U32, H_RESET

from .test_concurrency import reap, run_child
from .test_core import assert_consistent

# The child kills itself with SIGKILL right after its N-th journaled write (write2
# journals two changes in one append, so it is one cut point).
KILL_AFTER_WRITES = """
import os, signal
from asgi_ipc import _locks

limit = int(sys.argv[2])
original, original2 = _locks.Journal.write, _locks.Journal.write2
calls = 0

def counted():
    global calls
    calls += 1
    if calls >= limit:
        os.kill(os.getpid(), signal.SIGKILL)

def write(self, offset, data):
    original(self, offset, data)
    counted()

def write2(self, offset, data, offset2, data2):
    original2(self, offset, data, offset2, data2)
    counted()

_locks.Journal.write = write
_locks.Journal.write2 = write2
layer = make(capacity=1000)
"""

OPERATIONS = {
    "send-new-channel": "layer.send('fresh', {'n': 1})",
    "send-existing": "layer.send('queue', {'n': 99})",
    "send-process-specific": "layer.send('reply!new', {'n': 1})",
    "receive": "layer.receive(['queue'])",
    "group-add": "layer.group_add('room', 'newcomer')",
    "group-add-new-group": "layer.group_add('hall', 'queue')",
    "group-discard": "layer.group_discard('room', 'member1')",
    "group-discard-last": "layer.group_discard('solo', 'only')",
}


def state(layer: IPCChannelLayer) -> dict[str, object]:
    """Return everything visible, without changing it (statistics aside)."""
    return {
        "queue": layer.channel_statistics("queue")["messages_pending"],
        "fresh": layer.channel_statistics("fresh")["messages_pending"],
        "reply": layer.channel_statistics("reply!x")["messages_pending"],
        "room": sorted(layer.group_channels("room")),
        "hall": layer.group_channels("hall"),
        "solo": layer.group_channels("solo"),
    }


def run_op(prefix: str, tmp_path: Path, operation: str, limit: int) -> int:
    child = run_child(tmp_path, KILL_AFTER_WRITES + operation + "\n", prefix, str(limit))
    try:
        return child.wait(60)
    finally:
        if child.stdout is not None:
            child.stdout.close()


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_kill_after_any_write_rolls_the_operation_back(
    make_layer: Callable[..., IPCChannelLayer], prefix: str, tmp_path: Path, operation: str
) -> None:
    layer = make_layer(capacity=1000)
    for number in range(3):
        layer.send("queue", {"n": number})
        layer.group_add("room", f"member{number}")
    layer.group_add("solo", "only")
    before = state(layer)
    limit = 1
    while True:
        code = run_op(prefix, tmp_path, OPERATIONS[operation], limit)
        if code == 0:
            break  # the operation finished in fewer writes: every cut point was tried
        assert code == -signal.SIGKILL
        assert_consistent(layer)  # takes the lock, which rolls the dead child's work back
        assert state(layer) == before, f"{operation} was half-applied after write {limit}"
        limit += 1
    assert limit > 1
    assert state(layer) != before, f"{operation} changed nothing when it completed"
    assert_consistent(layer)


def test_child_killed_while_holding_the_lock_does_not_wedge_others(
    make_layer: Callable[..., IPCChannelLayer], prefix: str, tmp_path: Path
) -> None:
    layer = make_layer()
    child = run_child(
        tmp_path,
        """
        import time
        layer = make()
        layer._lock.__enter__()
        print("locked", flush=True)
        time.sleep(120)
        """,
        prefix,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        child.send_signal(signal.SIGKILL)
        assert child.wait(60) == -signal.SIGKILL
    finally:
        reap(child)
    done: list[object] = []

    def use_layer() -> None:
        layer.send("after", {"ok": True})
        done.append(layer.receive(["after"]))

    worker = threading.Thread(target=use_layer, daemon=True)
    worker.start()
    worker.join(60)
    assert done == [("after", {"ok": True})], "the layer stayed locked after its holder died"


def test_flush_interrupted_by_a_crash_is_finished_by_the_next_lock_holder(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    layer = make_layer()
    layer.send("a", {})
    layer.group_add("g", "a")
    _U32.pack_into(layer._mm, H_RESET, 1)  # what a process dying mid-flush leaves
    assert layer.receive(["a"]) == (None, None)
    assert not reset_pending(layer._mm)
    assert layer.group_channels("g") == []
    assert_consistent(layer)


def test_waiter_slot_of_a_killed_process_is_reclaimed(
    make_layer: Callable[..., IPCChannelLayer], prefix: str, tmp_path: Path
) -> None:
    layer = make_layer()
    child = run_child(
        tmp_path,
        """
        layer = make(receive_timeout=120)
        print("waiting", flush=True)
        layer.receive(["nothing"], block=True)
        """,
        prefix,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "waiting"
        for _ in range(600):
            if layer._waiters.slot_pids():
                break
            threading.Event().wait(0.05)
        assert list(layer._waiters.slot_pids().values()) == [child.pid]
        child.kill()
        child.wait(60)
    finally:
        if child.stdout is not None:
            child.stdout.close()
    with layer._lock as journal:
        layer._waiters._reclaim_dead(journal)
    assert layer._waiters.slot_pids() == {}
    assert_consistent(layer)


def test_python_exception_inside_the_lock_rolls_back(layer: IPCChannelLayer) -> None:
    layer.send("q", {"n": 1})
    with pytest.raises(RuntimeError), layer._lock as journal:
        layer._store.pop(journal, b"q", layer.time_fn())
        raise RuntimeError("simulated failure mid-operation")
    assert layer.receive(["q"]) == ("q", {"n": 1})
