"""send_many_and_receive(limit=N): a worker's receive that takes a few messages of a backlog."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import redis
from asgi_redis import RedisChannelLayer

from .conftest import REDIS_URL, FakeClock, keys_of
from .test_batch import _count_packets

MakeLayer = Callable[..., RedisChannelLayer]


def _backlog(layer: RedisChannelLayer, channel: str, count: int) -> None:
    for n in range(count):
        layer.send(channel, {"n": n})


def _queued(layer: RedisChannelLayer, channel: str) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return int(client.llen(layer.prefix + "q:" + channel))
    finally:
        client.close()


@pytest.mark.parametrize(
    ("backlog", "taken"), [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (8, 4), (30, 4)]
)
def test_a_receive_takes_at_most_half_of_a_backlog_and_at_most_the_limit(
    make_layer: MakeLayer, backlog: int, taken: int
) -> None:
    layer = make_layer()
    _backlog(layer, "work", backlog)
    results, received = layer.send_many_and_receive([], ["work"], True, limit=4)
    assert results == []
    assert received == ("work", {"n": 0})
    assert _queued(layer, "work") == backlog - taken
    kept = []
    while True:
        channel, message = layer.receive_prefetched(["work"])
        if channel is None:
            break
        kept.append(message["n"])
    assert kept == list(range(1, taken))


def test_kept_messages_are_handed_out_in_order_without_asking_redis(
    make_layer: MakeLayer,
) -> None:
    layer = make_layer()
    _backlog(layer, "work", 10)
    packets = _count_packets(layer)
    results, received = layer.send_many_and_receive(
        [("daphne.response.a!b", {"reply": 1})], ["work", "other"], True, limit=4
    )
    assert results == [None]
    assert received == ("work", {"n": 0})
    assert packets == [(0, 3)]  # the SEND, the BLPOP and RECEIVE_BATCH
    assert [layer.receive_prefetched(["other", "work"])[1] for _ in range(3)] == [
        {"n": 1},
        {"n": 2},
        {"n": 3},
    ]
    assert layer.receive_prefetched(["work"]) == (None, None)
    assert packets == [(0, 3)]
    # Kept messages also come first for an ordinary receive; then Redis has the rest.
    _results, received = layer.send_many_and_receive([], ["work"], True, limit=4)
    assert received == ("work", {"n": 4})
    assert layer.receive(["work"]) == ("work", {"n": 5})
    assert layer.receive(["daphne.response.a!"]) == ("daphne.response.a!b", {"reply": 1})


def test_other_readers_of_a_backlog_still_find_work_and_wake_up(make_layer: MakeLayer) -> None:
    layer = make_layer()
    other = make_layer(receive_timeout=2)
    _backlog(layer, "work", 6)
    layer.send_many_and_receive([], ["work"], True, limit=4)
    # Three taken (half of six); three left, each with its wake-up token.
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert client.llen(layer.prefix + "w:work") == 3
    finally:
        client.close()
    got = [other.receive(["work"], block=True)[1]["n"] for _ in range(3)]
    assert got == [3, 4, 5]


def test_a_blocking_batch_receive_waits_for_a_message_sent_later(make_layer: MakeLayer) -> None:
    layer = make_layer(receive_timeout=5)
    other = make_layer()
    timer = threading.Timer(0.3, other.send, ("work", {"late": True}))
    timer.start()
    try:
        results, received = layer.send_many_and_receive(
            [("out", {"n": 1})], ["work"], True, limit=4
        )
    finally:
        timer.cancel()
    assert results == [None]
    assert received == ("work", {"late": True})
    assert layer.receive_prefetched(["work"]) == (None, None)


def test_a_batch_receive_times_out_with_nothing(make_layer: MakeLayer) -> None:
    layer = make_layer(receive_timeout=0.2)
    assert layer.send_many_and_receive([], ["idle"], True, limit=4) == ([], (None, None))
    assert layer.send_many_and_receive([], ["idle"], False, limit=4) == ([], (None, None))


def test_a_batch_receive_loads_its_script_when_the_server_lacks_it(make_layer: MakeLayer) -> None:
    layer = make_layer()
    _backlog(layer, "work", 4)
    redis.Redis.from_url(REDIS_URL).script_flush()
    results, received = layer.send_many_and_receive([("out", {"n": 1})], ["work"], True, limit=4)
    assert results == [None]
    assert received == ("work", {"n": 0})
    assert layer.receive_prefetched(["work"]) == ("work", {"n": 1})
    assert layer.receive(["out"]) == ("out", {"n": 1})


def test_a_kept_message_that_expires_is_dropped(make_layer: MakeLayer, clock: FakeClock) -> None:
    layer = make_layer(expiry=10, time_fn=clock)
    _backlog(layer, "work", 8)
    _results, received = layer.send_many_and_receive([], ["work"], False, limit=4)
    assert received == ("work", {"n": 0})
    clock.advance(11)
    assert layer.receive_prefetched(["work"]) == (None, None)


def test_nothing_is_left_in_redis_after_a_drained_batch(make_layer: MakeLayer) -> None:
    layer = make_layer()
    _backlog(layer, "work", 8)
    handled = 0
    while True:
        channel, _message = layer.receive_prefetched(["work"])
        if channel is None:
            _results, (channel, _message) = layer.send_many_and_receive(
                [], ["work"], False, limit=4
            )
        if channel is None:
            break
        handled += 1
    assert handled == 8
    leftovers = [key for key in keys_of(REDIS_URL, layer.prefix) if b":q:" in key or b":w:" in key]
    assert leftovers == []


def test_limit_must_be_a_positive_int(make_layer: MakeLayer) -> None:
    layer = make_layer()
    for bad in (0, -1, 2.5, True, "4"):
        with pytest.raises(ValueError, match="limit is"):
            layer.send_many_and_receive([], ["work"], False, limit=bad)  # type: ignore[arg-type]
