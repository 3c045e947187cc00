"""KeptSends and its watcher: overdue sends go out, in order, and an idle watcher sleeps."""

from __future__ import annotations

import threading
import time
from typing import Any

from channels._kept_sends import KeptSends, KeptSendsWatcher


def _pairs(*numbers: int) -> list[tuple[Any, dict[str, Any]]]:
    return [("out", {"n": n}) for n in numbers]


def test_sends_are_kept_in_order_and_the_clock_runs_from_the_oldest() -> None:
    slot = KeptSends()
    slot.keep(_pairs(1, 2))
    since = slot.since
    time.sleep(0.01)
    slot.keep(_pairs(3))
    assert slot.since == since
    assert slot.take() == _pairs(1, 2, 3)
    assert slot.take() == []


def test_only_overdue_sends_go_out() -> None:
    slot = KeptSends()
    sent: list[list[tuple[Any, dict[str, Any]]]] = []
    assert slot.send_overdue(60, sent.append) is False  # nothing kept
    slot.keep(_pairs(1))
    assert slot.send_overdue(60, sent.append) is True
    assert sent == []
    assert slot.send_overdue(0, sent.append) is False
    assert sent == [_pairs(1)]
    assert slot.take() == []


def test_a_failing_send_is_logged_and_not_retried(caplog: Any) -> None:
    slot = KeptSends()
    slot.keep(_pairs(1))

    def fail(messages: Any) -> None:
        raise RuntimeError("layer down")

    assert slot.send_overdue(0, fail) is False
    assert "Could not send 1 kept messages" in caplog.text
    assert slot.take() == []


def test_taking_waits_while_the_watcher_is_sending() -> None:
    slot = KeptSends()
    slot.keep(_pairs(1))
    sending = threading.Event()
    finish = threading.Event()
    order: list[str] = []

    def slow_send(messages: Any) -> None:
        sending.set()
        finish.wait(5)
        order.append("watcher sent")

    sender = threading.Thread(target=slot.send_overdue, args=(0, slow_send))
    sender.start()
    assert sending.wait(5)
    taker = threading.Thread(target=lambda: order.append(f"took {slot.take()}"))
    taker.start()
    time.sleep(0.05)
    assert order == []  # the worker cannot overtake the send in flight
    finish.set()
    sender.join(5)
    taker.join(5)
    assert order == ["watcher sent", "took []"]


def test_the_watcher_sends_what_waits_too_long_then_sleeps_until_told() -> None:
    slot = KeptSends()
    sent = threading.Event()
    batches: list[Any] = []

    def send(messages: Any) -> None:
        batches.append(messages)
        sent.set()

    watcher = KeptSendsWatcher(slot, send, max_hold=0.02)
    try:
        slot.keep(_pairs(1, 2))
        watcher.kept()
        assert sent.wait(2)
        assert batches == [_pairs(1, 2)]
        deadline = time.monotonic() + 2
        while watcher._busy.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not watcher._busy.is_set()  # parked: no wake-ups while nothing is kept
        sent.clear()
        slot.keep(_pairs(3))
        watcher.kept()
        assert sent.wait(2)
        assert batches == [_pairs(1, 2), _pairs(3)]
    finally:
        watcher.stop()
    assert not watcher._thread.is_alive()


def test_sends_taken_in_time_never_reach_the_watcher() -> None:
    slot = KeptSends()
    batches: list[Any] = []
    watcher = KeptSendsWatcher(slot, batches.append, max_hold=0.2)
    try:
        for n in range(5):
            slot.keep(_pairs(n))
            watcher.kept()
            assert slot.take() == _pairs(n)
        time.sleep(0.3)
        assert batches == []
    finally:
        watcher.stop()
