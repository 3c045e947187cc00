"""receive_async fetches ahead on one process-specific prefix, and only there."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from asgi_redis import RedisChannelLayer
from asgi_redis._prefetch import PREFETCH, PrefetchBuffer, prefetchable

from .conftest import REDIS_URL, FakeClock

MakeLayer = Callable[..., RedisChannelLayer]
PREFIX = "daphne.response.abc!"


def _receive_all(layer: RedisChannelLayer, names: list[str], count: int) -> list[Any]:
    async def main() -> list[Any]:
        return [await layer.receive_async(names) for _ in range(count)]

    return asyncio.run(main())


def _queued(layer: RedisChannelLayer, queue: str) -> tuple[int, int]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return (
            client.llen(layer.prefix + "q:" + queue),
            client.llen(layer.prefix + "w:" + queue),
        )
    finally:
        client.close()


@pytest.mark.parametrize("shards", [1, 2])
def test_a_burst_comes_out_in_order_one_message_per_call(
    make_layer: MakeLayer, shards: int
) -> None:
    layer = make_layer(shards=shards, receive_timeout=5, capacity=1000)
    total = PREFETCH * 2 + 5
    for n in range(total):
        layer.send(PREFIX + ("a" if n % 2 else "b"), {"n": n})
    got = _receive_all(layer, [PREFIX], total)
    assert [message["n"] for _, message in got] == list(range(total))
    assert [channel for channel, _ in got][:2] == [PREFIX + "b", PREFIX + "a"]
    assert len(layer._prefetched) == 0


def test_prefetch_takes_the_waiting_messages_off_redis_in_one_call(
    make_layer: MakeLayer,
) -> None:
    layer = make_layer(capacity=1000)
    for n in range(10):
        layer.send(PREFIX + "c", {"n": n})
    assert _receive_all(layer, [PREFIX], 1) == [(PREFIX + "c", {"n": 0})]
    assert len(layer._prefetched) == 9
    # Nothing left queued, and no stray wake-up tokens that would wake a reader for nothing.
    assert _queued(layer, PREFIX) == (0, 0)
    # A sync receive sees the buffered messages first, in order.
    assert layer.receive([PREFIX]) == (PREFIX + "c", {"n": 1})
    assert layer.receive([PREFIX], block=True) == (PREFIX + "c", {"n": 2})


def test_tokens_stay_one_per_message_when_more_than_prefetch_wait(
    make_layer: MakeLayer,
) -> None:
    layer = make_layer(capacity=1000)
    for n in range(PREFETCH + 7):
        layer.send(PREFIX + "c", {"n": n})
    _receive_all(layer, [PREFIX], 1)
    assert _queued(layer, PREFIX) == (7, 7)


def test_normal_and_mixed_receives_never_prefetch(make_layer: MakeLayer) -> None:
    layer = make_layer(capacity=1000)
    for n in range(5):
        layer.send("plain", {"n": n})
        layer.send(PREFIX + "c", {"n": n})
    assert _receive_all(layer, ["plain"], 1) == [("plain", {"n": 0})]
    assert _receive_all(layer, ["plain", PREFIX], 1)[0][0] in ("plain", PREFIX + "c")
    assert len(layer._prefetched) == 0
    assert _queued(layer, "plain")[0] >= 3


def test_a_message_that_expires_in_the_buffer_is_dropped(
    make_layer: MakeLayer, clock: FakeClock
) -> None:
    layer = make_layer(expiry=10, time_fn=clock, receive_timeout=0.2)
    layer.send(PREFIX + "c", {"n": 0})
    layer.send(PREFIX + "c", {"n": 1})
    assert _receive_all(layer, [PREFIX], 1) == [(PREFIX + "c", {"n": 0})]
    clock.advance(11)
    layer.send(PREFIX + "c", {"n": 2})
    assert _receive_all(layer, [PREFIX], 1) == [(PREFIX + "c", {"n": 2})]


def test_flush_empties_the_buffer(make_layer: MakeLayer) -> None:
    layer = make_layer()
    layer.send(PREFIX + "c", {"n": 0})
    layer.send(PREFIX + "c", {"n": 1})
    _receive_all(layer, [PREFIX], 1)
    layer.flush()
    assert layer.receive([PREFIX]) == (None, None)


def test_the_script_is_loaded_again_after_a_script_flush(make_layer: MakeLayer) -> None:
    layer = make_layer(capacity=1000)
    layer.send(PREFIX + "c", {"n": 0})
    _receive_all(layer, [PREFIX], 1)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert client.script_exists(layer._scripts["RECEIVE_MANY"].sha) == [True]
    finally:
        client.close()
    layer.send(PREFIX + "c", {"n": 1})
    layer.send(PREFIX + "c", {"n": 2})
    real = layer._receive_many_args

    def missing_script(queue: str) -> tuple[Any, ...]:
        # Ask for an unknown SHA once, as a freshly restarted server would answer.
        layer._receive_many_args = real  # type: ignore[method-assign]
        args = real(queue)
        return (args[0], "0" * 40, *args[2:])

    layer._receive_many_args = missing_script  # type: ignore[method-assign]
    assert _receive_all(layer, [PREFIX], 2) == [
        (PREFIX + "c", {"n": 1}),
        (PREFIX + "c", {"n": 2}),
    ]


def test_prefetchable_means_exactly_one_process_prefix() -> None:
    assert prefetchable(["x!"])
    assert not prefetchable(["x"])
    assert not prefetchable(["x?abc"])
    assert not prefetchable(["x!", "y!"])


def test_buffer_keeps_order_per_queue_and_skips_expired_entries() -> None:
    buffer = PrefetchBuffer()
    assert not buffer
    buffer.add("x!", [b"%013dx!a\0one" % 100, b"%013dx!a\0two" % 300])
    buffer.add("x!", [b"%013dx!a\0three" % 300])
    assert len(buffer) == 3
    assert buffer.take(["y!"], 200) is None
    assert buffer.take(["y!", "x!"], 200) == b"%013dx!a\0two" % 300
    assert buffer.take(["x!"], 200) == b"%013dx!a\0three" % 300
    assert buffer.take(["x!"], 200) is None
    assert not buffer


def test_cancelling_a_prefetching_receive_loses_no_message(make_layer: MakeLayer) -> None:
    layer = make_layer(capacity=1000)
    for n in range(10):
        layer.send(PREFIX + "c", {"n": n})

    async def main() -> list[Any]:
        await layer._loop_clients.get()
        task = asyncio.get_running_loop().create_task(layer.receive_async([PREFIX]))
        # Cancel as soon as Redis has popped the messages, while the reply may be in flight.
        deadline = time.monotonic() + 60
        while _queued(layer, PREFIX)[0] and not task.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        got = []
        if task.done():
            got.append(task.result())
        else:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        while len(got) + len(layer._prefetched) < 10 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return got + [await layer.receive_async([PREFIX]) for _ in range(10 - len(got))]

    got = asyncio.run(main())
    assert [message["n"] for _, message in got] == list(range(10))
