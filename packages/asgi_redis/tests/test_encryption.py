"""Encryption: payloads are sealed, wrong readers fail cleanly, keys rotate."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from asgi_redis import MessageDecodeError, RedisChannelLayer

from .conftest import REDIS_URL

MakeLayer = Callable[..., RedisChannelLayer]


def test_encrypted_messages_round_trip_and_are_not_stored_in_clear(
    make_layer: MakeLayer, prefix: str
) -> None:
    layer = make_layer(symmetric_encryption_keys=["secret"])
    layer.send("private", {"card": "4111-1111"})
    stored = redis.Redis.from_url(REDIS_URL).lrange(f"{prefix}q:private", 0, -1)
    assert stored and b"4111" not in stored[0]
    assert layer.receive(["private"]) == ("private", {"card": "4111-1111"})


def test_unencrypted_reader_fails_cleanly(make_layer: MakeLayer) -> None:
    sealed = make_layer(symmetric_encryption_keys=["secret"])
    plain = make_layer()
    sealed.send("c", {"x": 1})
    with pytest.raises(MessageDecodeError, match="encrypted"):
        plain.receive(["c"])
    plain.send("c", {"x": 2})
    with pytest.raises(MessageDecodeError, match="could not be decrypted"):
        sealed.receive(["c"])
    # Nothing is stuck: the layer keeps working for readable messages.
    sealed.send("c", {"x": 3})
    assert sealed.receive(["c"]) == ("c", {"x": 3})


def test_key_rotation_reads_old_and_new_messages(make_layer: MakeLayer) -> None:
    old = make_layer(symmetric_encryption_keys=["key-2024"])
    rotated = make_layer(symmetric_encryption_keys=["key-2025", "key-2024"])
    new_only = make_layer(symmetric_encryption_keys=["key-2025"])
    old.send("c", {"from": "old"})
    rotated.send("c", {"from": "rotated"})
    assert rotated.receive(["c"]) == ("c", {"from": "old"})
    assert new_only.receive(["c"]) == ("c", {"from": "rotated"})
    rotated.send("c", {"from": "rotated again"})
    with pytest.raises(MessageDecodeError):
        old.receive(["c"])


def test_group_messages_are_encrypted_too(make_layer: MakeLayer) -> None:
    layer = make_layer(shards=2, symmetric_encryption_keys=["secret"])
    layer.group_add("g", "a!1")
    layer.group_add("g", "b!1")
    layer.send_group("g", {"hello": "group"})
    got = {layer.receive(["a!", "b!"])[0] for _ in range(2)}
    assert got == {"a!1", "b!1"}
