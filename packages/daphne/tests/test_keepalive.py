"""The keep-alive timeout: idle connections close, busy and active ones do not."""

from __future__ import annotations

from daphne.keepalive import LazyTimeoutMixin
from daphne_harness import make_harness
from twisted.internet import task


def test_idle_keep_alive_connection_closes_after_the_timeout() -> None:
    harness = make_harness(keep_alive_timeout=5)
    _protocol, transport = harness.connect()
    harness.clock.advance(4.9)
    assert not transport.disconnecting
    harness.clock.advance(0.2)
    assert transport.disconnecting


def test_the_idle_period_restarts_after_each_response() -> None:
    harness = make_harness(keep_alive_timeout=5, http_timeout=60)
    protocol, transport = harness.connect()
    harness.clock.advance(3)
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    message = harness.receive("http.request")
    assert message is not None
    harness.clock.advance(20)  # a slow response: no keep-alive timeout while it is awaited
    assert not transport.disconnecting
    harness.reply(message["reply_channel"], {"status": 200, "content": b"ok"})
    assert transport.value().startswith(b"HTTP/1.1 200")
    harness.clock.advance(4.9)
    assert not transport.disconnecting
    harness.clock.advance(0.2)
    assert transport.disconnecting


class _Timed(LazyTimeoutMixin):
    def __init__(self, clock: task.Clock) -> None:
        self.timeout_clock = clock
        self.timed_out = 0

    def timeoutConnection(self) -> None:
        self.timed_out += 1


def test_data_pushes_the_deadline_without_rescheduling() -> None:
    clock = task.Clock()
    timed = _Timed(clock)
    timed.setTimeout(10)
    for _ in range(5):
        clock.advance(4)
        timed.resetTimeout()
    assert len(clock.getDelayedCalls()) == 1 and timed.timed_out == 0
    clock.advance(9.9)
    assert timed.timed_out == 0
    clock.advance(0.2)
    assert timed.timed_out == 1 and clock.getDelayedCalls() == []


def test_a_shorter_period_rearms_sooner_and_none_returns_the_previous_one() -> None:
    clock = task.Clock()
    timed = _Timed(clock)
    assert timed.setTimeout(60) is None
    assert timed.setTimeout(None) == 60
    assert timed.setTimeout(2) is None
    clock.advance(2.1)
    assert timed.timed_out == 1


def test_stop_timeout_cancels_the_timer() -> None:
    clock = task.Clock()
    timed = _Timed(clock)
    timed.setTimeout(5)
    timed.stop_timeout()
    assert clock.getDelayedCalls() == []
    clock.advance(10)
    assert timed.timed_out == 0
