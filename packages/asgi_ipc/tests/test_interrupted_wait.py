"""A signal that interrupts a blocking receive (a worker's SIGTERM) is not an error."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgi_ipc import IPCChannelLayer


@pytest.fixture
def quiet_sigusr1() -> Iterator[list[int]]:
    """Install a SIGUSR1 handler that only counts, as a worker's SIGTERM handler sets a flag."""
    seen: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, _frame: seen.append(signum))
    yield seen
    signal.signal(signal.SIGUSR1, previous)


def test_a_signal_during_a_blocking_receive_keeps_it_waiting_for_the_message(
    make_layer: Callable[..., IPCChannelLayer], quiet_sigusr1: list[int]
) -> None:
    layer = make_layer(receive_timeout=30)
    outcome: list[Any] = []

    def receive() -> None:
        try:
            outcome.append(layer.receive(["work"], block=True))
        except Exception as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=receive)
    waiter.start()
    time.sleep(0.3)  # into the semaphore wait
    assert waiter.ident is not None
    for _ in range(3):
        # Delivered to the waiting thread itself, so its sem_timedwait fails with EINTR.
        signal.pthread_kill(waiter.ident, signal.SIGUSR1)
        time.sleep(0.05)
    assert outcome == [], f"the receive ended on a signal: {outcome!r}"
    layer.send("work", {"n": 1})
    waiter.join(10)
    assert outcome == [("work", {"n": 1})]
    assert quiet_sigusr1, "the signal handler never ran"
