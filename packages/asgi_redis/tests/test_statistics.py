"""Statistics counters across many seconds, on a fake clock (no sleeping)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from asgi_redis import RedisChannelLayer

from .conftest import REDIS_URL, FakeClock

MakeLayer = Callable[..., RedisChannelLayer]


def _figures(stats: dict[str, int | float]) -> tuple[int | float, ...]:
    return (
        stats["messages_count"],
        stats["messages_count_per_second"],
        stats["channel_full_count"],
        stats["channel_full_count_per_second"],
    )


def test_totals_and_rates_follow_the_seconds(make_layer: MakeLayer, clock: FakeClock) -> None:
    layer = make_layer(time_fn=clock, channel_capacity={"tight": 1}, capacity=1000)
    clock.advance(0.25)  # a quarter into a second: the previous second weighs 0.75

    def send(channel: str, count: int) -> None:
        for number in range(count):
            try:
                layer.send(channel, {"n": number})
            except layer.ChannelFull:
                pass

    send("busy", 3)
    assert _figures(layer.channel_statistics("busy")) == (3, 3, 0, 0)
    clock.advance(1)
    send("busy", 2)
    assert _figures(layer.channel_statistics("busy")) == (5, pytest.approx(4.25), 0, 0)
    # Receiving does not change what was counted.
    assert layer.receive(["busy"])[0] == "busy"
    clock.advance(1)
    send("busy", 1)
    assert _figures(layer.channel_statistics("busy")) == (6, pytest.approx(2.5), 0, 0)
    clock.advance(5)
    assert _figures(layer.channel_statistics("busy")) == (6, 0, 0, 0)
    send("busy", 4)
    assert _figures(layer.channel_statistics("busy")) == (10, 4, 0, 0)

    send("tight", 3)  # one queued, two refused
    assert _figures(layer.channel_statistics("tight")) == (1, 1, 2, 2)
    clock.advance(1)
    send("tight", 2)
    assert _figures(layer.channel_statistics("tight")) == (
        1,
        pytest.approx(0.75),
        4,
        pytest.approx(3.5),
    )
    clock.advance(1)
    assert _figures(layer.global_statistics()) == (11, 0, 4, pytest.approx(1.5))


def test_counter_keys_stay_small_over_time(make_layer: MakeLayer, clock: FakeClock) -> None:
    layer = make_layer(time_fn=clock, capacity=1000)
    for second in range(30):
        layer.send("steady", {"second": second})
        layer.receive(["steady"])
        clock.advance(1)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        base = f"{layer.stats_prefix}{layer.prefix}"
        for key in (f"{base}c:steady", f"{base}all"):
            # Total, current and previous second per kind, whatever the run's length.
            assert 0 < client.hlen(key) <= 8, client.hgetall(key)
            assert client.pttl(key) > 0
    finally:
        client.close()
    stats = layer.channel_statistics("steady")
    assert stats["messages_count"] == 30
    assert layer.global_statistics()["messages_count"] == 30
