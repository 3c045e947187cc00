"""Restarting Redis: calls fail with ConnectionError, then work again on the same layer."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from asgi_redis import RedisChannelLayer, RedisUnavailableError
from asgi_redis.testing import RedisServer


def _until_it_works(call: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except RedisUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_calls_fail_cleanly_while_redis_is_down_and_recover(
    own_redis: RedisServer, prefix: str
) -> None:
    layer = RedisChannelLayer(hosts=[own_redis.url], prefix=prefix, receive_timeout=2)
    layer.send("c", {"before": True})
    layer.group_add("g", "c")
    assert layer.receive(["c"]) == ("c", {"before": True})
    own_redis.stop()
    for call in (
        lambda: layer.send("c", {"during": True}),
        lambda: layer.receive(["c"]),
        lambda: layer.receive(["c"], block=True),
        lambda: layer.send_group("g", {"during": True}),
        layer.global_statistics,
        layer.flush,
    ):
        with pytest.raises(ConnectionError, match=own_redis.url.split("/0")[0]):
            call()
    own_redis.start()
    # The same layer object works again (Lua scripts are reloaded on demand).
    _until_it_works(lambda: layer.send("c", {"after": True}))
    assert layer.receive(["c"], block=True) == ("c", {"after": True})
    layer.group_add("g", "c")
    layer.send_group("g", {"group": True})
    assert layer.receive(["c"], block=True) == ("c", {"group": True})
    layer.close()


def test_blocked_receive_raises_instead_of_hanging_when_redis_dies(
    own_redis: RedisServer, prefix: str
) -> None:
    layer = RedisChannelLayer(hosts=[own_redis.url], prefix=prefix, receive_timeout=30)
    outcome: list[BaseException | tuple[Any, Any]] = []

    def receive() -> None:
        try:
            outcome.append(layer.receive(["c"], block=True))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=receive)
    thread.start()
    time.sleep(0.3)
    own_redis.stop()
    thread.join(60)
    assert not thread.is_alive()
    assert isinstance(outcome[0], RedisUnavailableError)
    own_redis.start()
    _until_it_works(lambda: layer.send("c", {"after": True}))
    assert layer.receive(["c"], block=True) == ("c", {"after": True})
    layer.close()


def test_async_receive_recovers_after_a_restart(own_redis: RedisServer, prefix: str) -> None:
    layer = RedisChannelLayer(hosts=[own_redis.url], prefix=prefix, receive_timeout=2)

    async def main() -> tuple[Any, Any]:
        layer.send("c", {"n": 1})
        assert await layer.receive_async(["c"]) == ("c", {"n": 1})
        await asyncio.to_thread(own_redis.stop)
        with pytest.raises(RedisUnavailableError):
            await layer.receive_async(["c"])
        await asyncio.to_thread(own_redis.start)
        await asyncio.to_thread(_until_it_works, lambda: layer.send("c", {"n": 2}))
        deadline = time.monotonic() + 60
        while True:
            try:
                return await layer.receive_async(["c"])
            except RedisUnavailableError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    assert asyncio.run(main()) == ("c", {"n": 2})
    layer.close()
