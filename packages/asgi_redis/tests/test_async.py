"""receive_async: redis.asyncio, one pool per event loop, wakes across shards."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from asgi_redis import RedisChannelLayer

MakeLayer = Callable[..., RedisChannelLayer]


@pytest.mark.parametrize("shards", [1, 2])
def test_receive_async_gets_a_message_sent_later(make_layer: MakeLayer, shards: int) -> None:
    layer = make_layer(shards=shards, receive_timeout=60)

    async def main() -> tuple[object, object]:
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, layer.send, "daphne.response.x!c1", {"reply": 1})
        return await asyncio.wait_for(layer.receive_async(["daphne.response.x!", "plain"]), 30)

    assert asyncio.run(main()) == ("daphne.response.x!c1", {"reply": 1})


def test_receive_async_returns_none_after_receive_timeout(make_layer: MakeLayer) -> None:
    layer = make_layer(shards=2, receive_timeout=0.2)
    assert asyncio.run(layer.receive_async(["empty", "empty!"])) == (None, None)


def test_one_client_set_per_event_loop_not_per_call(make_layer: MakeLayer) -> None:
    layer = make_layer()

    async def twice() -> tuple[list[object], list[object]]:
        layer.send("a", {"n": 1})
        layer.send("a", {"n": 2})
        await layer.receive_async(["a"])
        first = await layer._loop_clients.get()
        await layer.receive_async(["a"])
        second = await layer._loop_clients.get()
        return first, second

    first, second = asyncio.run(twice())
    assert first is second
    other, _ = asyncio.run(twice())
    assert other is not first


def test_loops_in_threads_each_get_their_own_clients(make_layer: MakeLayer) -> None:
    layer = make_layer(capacity=100)
    results: list[object] = []

    def worker() -> None:
        async def main() -> None:
            _channel, message = await layer.receive_async(["t"])
            results.append(message)
            await layer.close_async()

        asyncio.run(main())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for index in range(4):
        layer.send("t", {"i": index})
    for thread in threads:
        thread.join(60)
    assert sorted(message["i"] for message in results) == [0, 1, 2, 3]  # type: ignore[index]


def test_cancelled_receive_async_loses_no_message(make_layer: MakeLayer) -> None:
    layer = make_layer(shards=2, receive_timeout=60)

    async def main() -> tuple[object, object]:
        task = asyncio.ensure_future(layer.receive_async(["c", "d!"]))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        layer.send("c", {"kept": True})
        return await asyncio.wait_for(layer.receive_async(["c", "d!"]), 30)

    assert asyncio.run(main()) == ("c", {"kept": True})
