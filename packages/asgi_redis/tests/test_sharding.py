"""Two shards: pinned names, spread normal channels, fair receive, 1,000-member groups."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

from asgi_redis import RedisChannelLayer
from asgi_redis._config import jump_hash

from .conftest import REDIS_URL, REDIS_URL_2, keys_of

MakeLayer = Callable[..., RedisChannelLayer]
URLS = (REDIS_URL, REDIS_URL_2)


def _queue_shards(prefix: str, queue: str) -> set[int]:
    key = f"{prefix}q:{queue}".encode()
    return {index for index, url in enumerate(URLS) if key in keys_of(url, prefix)}


def test_single_reader_and_process_specific_channels_are_pinned_by_hash(
    make_layer: MakeLayer, prefix: str
) -> None:
    layer = make_layer(shards=2)
    names = [f"reply{index}?abc" for index in range(8)] + [f"daphne{index}!" for index in range(8)]
    for name in names:
        channel = name if name.endswith("?abc") else name + "client"
        for _ in range(3):
            layer.send(channel, {"n": name})
        assert _queue_shards(prefix, name) == {jump_hash(name, 2)}
    assert {jump_hash(name, 2) for name in names} == {0, 1}


def test_normal_channels_spread_over_every_shard_and_are_all_received(
    make_layer: MakeLayer, prefix: str
) -> None:
    layer = make_layer(shards=2, capacity=100)
    for index in range(40):
        layer.send("http.request", {"i": index})
    assert _queue_shards(prefix, "http.request") == {0, 1}
    got = [layer.receive(["http.request"])[1] for _ in range(40)]
    assert sorted(message["i"] for message in got) == list(range(40))  # type: ignore[index]
    assert layer.receive(["http.request"]) == (None, None)


def test_normal_channel_capacity_is_the_total_over_shards(make_layer: MakeLayer) -> None:
    layer = make_layer(shards=2, capacity=5)
    for index in range(5):
        layer.send("c", {"i": index})
    try:
        layer.send("c", {"i": 5})
    except layer.ChannelFull:
        pass
    else:
        raise AssertionError("the sixth message was accepted")
    assert layer.channel_statistics("c")["messages_pending"] == 5
    assert layer.channel_statistics("c")["channel_full_count"] == 1


def test_blocking_receive_wakes_for_a_message_on_either_shard(make_layer: MakeLayer) -> None:
    layer = make_layer(shards=2, receive_timeout=60)
    sender = make_layer(shards=2)
    pinned = next(name for name in (f"p{index}!" for index in range(10)) if jump_hash(name, 2) == 1)
    for target in (pinned + "x", "plain", "plain", pinned + "y"):
        timer = threading.Timer(0.2, sender.send, (target, {"t": target}))
        timer.start()
        started = time.monotonic()
        assert layer.receive([pinned, "plain"], block=True) == (target, {"t": target})
        assert time.monotonic() - started < 30  # woken by the message, not the 60 s timeout
        timer.join()


def test_receive_across_shards_is_fair(make_layer: MakeLayer) -> None:
    layer = make_layer(shards=2, capacity=100)
    pinned = [f"fair{index}!" for index in range(20)]
    for name in pinned:
        layer.send(name + "x", {"n": name})
    counts = Counter(layer.receive(pinned)[0] for _ in range(10))
    shards = {jump_hash(str(channel)[:-1], 2) for channel in counts}
    assert shards == {0, 1}


def test_send_group_reaches_all_1000_members_on_both_shards(make_layer: MakeLayer) -> None:
    layer = make_layer(shards=2)
    members = [f"daphne.response.m{index}!c" for index in range(1000)]
    for member in members:
        layer.group_add("everyone", member)
    assert len(layer.group_channels("everyone")) == 1000
    for number in range(3):
        layer.send_group("everyone", {"n": number})
    received: Counter[str] = Counter()
    for prefix in sorted({layer.non_local_name(member) for member in members}):
        while True:
            channel, _message = layer.receive([prefix])
            if channel is None:
                break
            received[channel] += 1
    assert received == Counter({member: 3 for member in members})


def test_group_members_live_beside_their_queues(make_layer: MakeLayer, prefix: str) -> None:
    layer = make_layer(shards=2)
    for index in range(20):
        layer.group_add("g", f"proc{index}!x")
    for index in range(20):
        queue = f"proc{index}!"
        reverse = f"{prefix}m:{queue}x".encode()
        shard = jump_hash(queue, 2)
        assert reverse in keys_of(URLS[shard], prefix)
        assert reverse not in keys_of(URLS[1 - shard], prefix)
