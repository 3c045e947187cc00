"""The segment lock: a robust process-shared mutex, mutual exclusion and misuse."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from asgi_ipc import IPCChannelLayer
from asgi_ipc._locks import _LOCK_STEP, LockError
from asgi_ipc._segment import _LAYOUT, SegmentError, open_segment

from .test_concurrency import reap, run_child
from .test_core import assert_consistent


def test_reentering_the_lock_in_one_thread_raises_lock_error(layer: IPCChannelLayer) -> None:
    """A signal handler using the layer mid-operation gets an error, not a deadlock."""
    with layer._lock, pytest.raises(LockError, match="already holds"):
        layer.send("inside", {"n": 1})
    layer.send("after", {"n": 2})
    assert layer.receive(["after", "inside"]) == ("after", {"n": 2})
    assert layer.receive(["inside"]) == (None, None)


def test_closed_layer_raises_lock_error(make_layer: Callable[..., IPCChannelLayer]) -> None:
    layer = make_layer()
    layer.close()
    with pytest.raises(LockError, match="closed"):
        layer.send("late", {"n": 1})


def test_lock_held_for_several_wait_steps_keeps_others_out(
    make_layer: Callable[..., IPCChannelLayer], prefix: str, tmp_path: Path
) -> None:
    """A sender waits (across timed lock steps) until the holder's operation is done."""
    layer = make_layer()
    hold = 3 * _LOCK_STEP
    child = run_child(
        tmp_path,
        f"""
        import time
        import msgpack
        layer = make()
        journal = layer._lock.__enter__()
        print("locked", flush=True)
        time.sleep({hold})
        now = layer.time_fn()
        payload = msgpack.packb({{"who": "holder"}}, use_bin_type=True)
        layer._store.enqueue(journal, b"order", b"", payload, now + 60, 100, now)
        layer._lock.__exit__(None, None, None)
        """,
        prefix,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        layer.send("order", {"who": "waiter"})  # blocks until the child lets go
        assert child.wait(60) == 0
    finally:
        reap(child)
    assert layer.receive(["order"]) == ("order", {"who": "holder"})
    assert layer.receive(["order"]) == ("order", {"who": "waiter"})
    assert_consistent(layer)


def test_process_killed_while_waiting_for_the_lock_leaves_it_usable(
    make_layer: Callable[..., IPCChannelLayer], prefix: str, tmp_path: Path
) -> None:
    """Dying in the queue for the mutex (not holding it) must not leave it taken."""
    layer = make_layer()
    waiter = run_child(
        tmp_path,
        """
        layer = make()
        print("started", flush=True)
        layer.send("from-waiter", {"n": 1})
        """,
        prefix,
    )
    try:
        with layer._lock:
            assert waiter.stdout is not None and waiter.stdout.readline().strip() == "started"
            waiter.send_signal(signal.SIGKILL)
            assert waiter.wait(60) == -signal.SIGKILL
    finally:
        reap(waiter)
    layer.send("after", {"ok": True})
    assert layer.receive(["after"]) == ("after", {"ok": True})
    assert_consistent(layer)


def test_bad_receive_arguments_raise_type_error_every_time(layer: IPCChannelLayer) -> None:
    """Checked names are remembered; rejected ones never are."""
    layer.send("good", {"n": 1})
    for _ in range(2):
        with pytest.raises(TypeError):
            layer.receive("good")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            layer.receive(["good", ["unhashable"]])  # type: ignore[list-item]
        with pytest.raises(TypeError):
            layer.receive(["bad name"])
        with pytest.raises(TypeError):
            layer.send("bad name", {"n": 1})
    assert layer.receive(("good",)) == ("good", {"n": 1})


def test_segment_of_an_older_format_is_refused(prefix: str) -> None:
    """A segment laid out by an flock-based build (format 1) is not used with the mutex."""
    shm, mm, layout, created = open_segment(prefix, 1 << 20, 1 << 18)
    try:
        assert created
        magic, _version, *rest = _LAYOUT.unpack(layout.pack())
        mm[: _LAYOUT.size] = _LAYOUT.pack(magic, 1, *rest)
    finally:
        mm.close()
        shm.close_fd()
    with pytest.raises(SegmentError, match="incompatible"):
        IPCChannelLayer(prefix=prefix, message_memory=1 << 20, group_memory=1 << 18)
