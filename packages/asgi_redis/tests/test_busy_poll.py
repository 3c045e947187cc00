"""Busy polling for replies: when the fast path polls, when it sleeps, and that replies stay whole.

The polling deadline is read from ``_fastpath.monotonic_ns``; these tests replace
it with a counting clock, so whether a call polled is seen without timing anything.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from asgi_redis import RedisChannelLayer, _fastpath
from asgi_redis._fastpath import (
    DEFAULT_BUSY_POLL_US,
    HAVE_HIREDIS,
    SKIPS_AFTER_MISS,
    WAIT_BUDGETS,
)

MakeLayer = Callable[..., RedisChannelLayer]

pytestmark = pytest.mark.skipif(not HAVE_HIREDIS, reason="hiredis is not installed")


class CountingClock:
    """A stand-in for ``monotonic_ns`` that advances ``step`` ns per reading."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.now = 0
        self.readings = 0

    def __call__(self) -> int:
        self.readings += 1
        self.now += self.step
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], CountingClock]:
    def install(step: int) -> CountingClock:
        fake = CountingClock(step)
        monkeypatch.setattr(_fastpath, "monotonic_ns", fake)
        return fake

    return install


@pytest.mark.parametrize("value", [-1, 10_001, 1.5, "100", True])
def test_busy_poll_us_must_be_a_whole_number_of_microseconds(
    make_layer: MakeLayer, value: object
) -> None:
    with pytest.raises(ValueError, match=f"busy_poll_us is {value!r}"):
        make_layer(busy_poll_us=value)


def test_the_default_polls_only_when_the_process_may_use_several_cpus(
    monkeypatch: pytest.MonkeyPatch, make_layer: MakeLayer
) -> None:
    monkeypatch.setattr(_fastpath.os, "sched_getaffinity", lambda pid: {0})
    assert make_layer().busy_poll_us == 0
    monkeypatch.setattr(_fastpath.os, "sched_getaffinity", lambda pid: {0, 1})
    assert make_layer().busy_poll_us == DEFAULT_BUSY_POLL_US


def test_a_reply_that_arrives_while_polling_is_read_whole(
    make_layer: MakeLayer, clock: Callable[[int], CountingClock]
) -> None:
    layer = make_layer(busy_poll_us=100)
    fake = clock(0)  # the deadline never comes: every reply is read by polling
    big = {"text": "x" * 600_000}
    layer.send("poll.big", big)
    layer.send_many([("poll.small", {"n": n}) for n in range(5)])
    assert fake.readings > 0
    assert layer.receive(["poll.big"], block=True) == ("poll.big", big)
    assert [layer.receive(["poll.small"], block=True)[1] for _ in range(5)] == [
        {"n": n} for n in range(5)
    ]
    assert layer._fast is not None
    assert layer._fast._connection(0)._skips == 0


def test_a_call_that_waited_lets_the_next_calls_sleep_at_once(
    make_layer: MakeLayer, clock: Callable[[int], CountingClock]
) -> None:
    layer = make_layer(busy_poll_us=100, receive_timeout=0.05)
    # Connect and load the scripts before the clock is replaced.
    layer.send("poll.warm", {"n": 0})
    assert layer.receive(["poll.warm"], block=True) == ("poll.warm", {"n": 0})
    assert layer._fast is not None
    connection = layer._fast._connection(0)
    connection._skips = 0  # loading a script may have outlasted a real poll
    fake = clock(1_000_000_000)  # each reading is a second later: every reply "waited"
    assert layer.receive(["poll.idle"], block=True) == (None, None)
    assert connection._skips == SKIPS_AFTER_MISS

    before = fake.readings
    for n in range(SKIPS_AFTER_MISS):
        if n % 2:
            layer.send("poll.busy", {"n": n})
        else:
            layer.receive(["poll.warm"], block=True)
    assert fake.readings == before  # these calls slept at once
    assert connection._skips == 0
    layer.send("poll.busy", {"n": 99})
    assert fake.readings > before  # polling again
    assert connection._skips == SKIPS_AFTER_MISS  # and the fake clock ran it out again


def test_a_layer_with_polling_off_never_polls(
    make_layer: MakeLayer, clock: Callable[[int], CountingClock]
) -> None:
    fake = clock(0)
    layer = make_layer(busy_poll_us=0, receive_timeout=0.05)
    layer.send("poll.off", {"n": 1})
    assert layer.receive(["poll.off"], block=True) == ("poll.off", {"n": 1})
    assert layer.receive(["poll.off"], block=True) == (None, None)
    assert fake.readings == 0


def test_a_reply_that_is_merely_slow_keeps_the_connection_polling(
    make_layer: MakeLayer, clock: Callable[[int], CountingClock]
) -> None:
    layer = make_layer(busy_poll_us=100)
    layer.send("poll.warm", {"n": 0})
    assert layer._fast is not None
    connection = layer._fast._connection(0)
    connection._skips = 0
    # Readings: the call's start, past the deadline (so it sleeps), then the reply two
    # budgets after the start: slow, but well within WAIT_BUDGETS.
    fake = clock(200_000)
    assert WAIT_BUDGETS > 2
    layer.send("poll.slow", {"n": 1})
    assert fake.readings == 3
    assert connection._skips == 0
    assert layer.receive(["poll.slow"]) == ("poll.slow", {"n": 1})
    assert fake.readings > 3  # the next call polled
