"""RedisLocalChannelLayer: normal channels in shared memory, the rest on Redis."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from asgi_redis import RedisLocalChannelLayer
from asgi_redis.testing import TemporaryRedisLocalChannelLayer

from .conftest import REDIS_URL, _require, keys_of

pytest.importorskip("asgi_ipc")


@pytest.fixture
def local_layer(prefix: str) -> Iterator[RedisLocalChannelLayer]:
    _require(REDIS_URL)
    layer = TemporaryRedisLocalChannelLayer(hosts=[REDIS_URL], prefix=prefix, receive_timeout=30)
    yield layer
    layer.flush()
    layer.close()


def test_normal_channels_stay_local_and_replies_go_to_redis(
    local_layer: RedisLocalChannelLayer, prefix: str
) -> None:
    local_layer.send("http.request", {"n": 1})
    assert keys_of(REDIS_URL, prefix) == []
    local_layer.send("daphne.response.x!c", {"n": 2})
    assert f"{prefix}q:daphne.response.x!".encode() in keys_of(REDIS_URL, prefix)
    got = {local_layer.receive(["http.request", "daphne.response.x!"])[0] for _ in range(2)}
    assert got == {"http.request", "daphne.response.x!c"}


def test_groups_reach_local_and_remote_members(local_layer: RedisLocalChannelLayer) -> None:
    local_layer.group_add("g", "worker.local")
    local_layer.group_add("g", "daphne.response.y!c")
    assert sorted(local_layer.group_channels("g")) == ["daphne.response.y!c", "worker.local"]
    local_layer.send_group("g", {"all": True})
    assert local_layer.receive(["worker.local"]) == ("worker.local", {"all": True})
    assert local_layer.receive(["daphne.response.y!"]) == ("daphne.response.y!c", {"all": True})


def test_mixed_blocking_receive_wakes_for_a_redis_message(
    local_layer: RedisLocalChannelLayer,
) -> None:
    timer = threading.Timer(0.2, local_layer.send, ("reply!z", {"r": 1}))
    timer.start()
    assert local_layer.receive(["http.request", "reply!"], block=True) == ("reply!z", {"r": 1})
    timer.join()


def test_receive_async_on_reply_channels_uses_redis(local_layer: RedisLocalChannelLayer) -> None:
    async def main() -> object:
        asyncio.get_running_loop().call_later(0.2, local_layer.send, "reply!a", {"a": 1})
        return await asyncio.wait_for(local_layer.receive_async(["reply!"]), 30)

    assert asyncio.run(main()) == ("reply!a", {"a": 1})


def test_bad_local_wait_is_rejected() -> None:
    with pytest.raises(ValueError, match="local_wait"):
        RedisLocalChannelLayer(hosts=[REDIS_URL], local_wait=0)
