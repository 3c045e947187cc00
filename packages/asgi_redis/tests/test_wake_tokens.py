"""Wake-up tokens stay one per queued message when a blocking receive takes another queue's."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from asgi_redis import RedisChannelLayer

from .conftest import REDIS_URL

MakeLayer = Callable[..., RedisChannelLayer]


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(REDIS_URL)
    yield connection
    connection.close()


def _tokens(client: redis.Redis, layer: RedisChannelLayer, queue: str) -> int:
    return int(client.llen(f"{layer.prefix}w:{queue}"))


def _receive_one(layer: RedisChannelLayer, channels: list[str]) -> object:
    return layer.receive(channels, block=True)


def _receive_batch(layer: RedisChannelLayer, channels: list[str]) -> object:
    results, received = layer.send_many_and_receive([], channels, True, limit=4)
    assert results == []
    return received


@pytest.mark.parametrize("receive", [_receive_one, _receive_batch], ids=["RECEIVE", "BATCH"])
def test_a_token_taken_from_another_queue_is_given_back(
    make_layer: MakeLayer, client: redis.Redis, receive: Callable[..., object]
) -> None:
    layer = make_layer()
    layer.send("later", {"n": "later"})
    layer.send("first", {"n": "first"})
    # Another reader took "first"'s token, so this receive's BLPOP takes "later"'s
    # while its script pops "first" (asked for first).
    client.lpop(f"{layer.prefix}w:first")
    assert receive(layer, ["first", "later", "idle"]) == ("first", {"n": "first"})
    assert _tokens(client, layer, "later") == 1
    assert _tokens(client, layer, "idle") == 0
    assert layer.receive(["later"]) == ("later", {"n": "later"})
    assert _tokens(client, layer, "later") == 0


@pytest.mark.parametrize("receive", [_receive_one, _receive_batch], ids=["RECEIVE", "BATCH"])
def test_other_queues_keep_their_tokens(
    make_layer: MakeLayer, client: redis.Redis, receive: Callable[..., object]
) -> None:
    layer = make_layer()
    for number in range(3):
        layer.send("busy", {"n": number})
    layer.send("mine", {"n": "mine"})
    assert receive(layer, ["idle", "mine", "busy"]) == ("mine", {"n": "mine"})
    # The BLPOP took "mine"'s token (the first queue with one); "busy" keeps all three.
    assert _tokens(client, layer, "busy") == 3
    assert _tokens(client, layer, "mine") == 0
