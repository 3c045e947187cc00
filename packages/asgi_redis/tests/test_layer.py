"""Behaviour of one RedisChannelLayer on one real Redis server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from asgi_redis import RedisChannelLayer

from .conftest import REDIS_URL, FakeClock, keys_of

MakeLayer = Callable[..., RedisChannelLayer]


def test_send_then_receive_returns_the_message_once(make_layer: MakeLayer) -> None:
    layer = make_layer()
    layer.send("work", {"text": "hi", "data": b"\x00\xff", "n": 2**63 - 1, "f": 1.5})
    assert layer.receive(["work"]) == (
        "work",
        {"text": "hi", "data": b"\x00\xff", "n": 2**63 - 1, "f": 1.5},
    )
    assert layer.receive(["work"]) == (None, None)


def test_process_specific_channels_share_their_prefix_queue_in_order(make_layer: MakeLayer) -> None:
    layer = make_layer()
    for index in range(5):
        layer.send(f"daphne.response.abc!{index}", {"i": index})
    got = [layer.receive(["daphne.response.abc!"]) for _ in range(5)]
    assert got == [(f"daphne.response.abc!{i}", {"i": i}) for i in range(5)]


def test_full_channel_raises_channel_full_and_counts_it(make_layer: MakeLayer) -> None:
    layer = make_layer(capacity=3)
    for index in range(3):
        layer.send("small", {"i": index})
    with pytest.raises(layer.ChannelFull, match="'small'"):
        layer.send("small", {"i": 3})
    stats = layer.channel_statistics("small")
    assert stats["messages_count"] == 3
    assert stats["channel_full_count"] == 1
    assert stats["messages_pending"] == 3


def test_message_over_one_megabyte_raises_message_too_large(make_layer: MakeLayer) -> None:
    layer = make_layer()
    layer.send("big", {"body": b"x" * 1_000_000})
    assert layer.receive(["big"])[1] == {"body": b"x" * 1_000_000}
    with pytest.raises(layer.MessageTooLarge):
        layer.send("big", {"body": b"x" * (1024 * 1024 + 1)})
    with pytest.raises(layer.MessageTooLarge):
        layer.send_group("g", {"body": b"x" * (1024 * 1024 + 1)})


def test_capacity_counts_only_unexpired_messages(make_layer: MakeLayer, clock: FakeClock) -> None:
    layer = make_layer(capacity=2, expiry=10, time_fn=clock)
    layer.send("c", {"i": 1})
    layer.send("c", {"i": 2})
    with pytest.raises(layer.ChannelFull):
        layer.send("c", {"i": 3})
    clock.advance(10.5)
    layer.send("c", {"i": 4})
    assert layer.receive(["c"]) == ("c", {"i": 4})
    assert layer.receive(["c"]) == (None, None)


def test_channel_with_expired_message_is_dropped_from_its_groups(
    make_layer: MakeLayer, clock: FakeClock
) -> None:
    layer = make_layer(expiry=10, time_fn=clock)
    layer.group_add("room", "daphne.response.dead!1")
    layer.group_add("room", "daphne.response.live!1")
    layer.group_add("other", "daphne.response.dead!1")
    layer.send_group("room", {"m": 1})
    assert layer.receive(["daphne.response.live!"]) == ("daphne.response.live!1", {"m": 1})
    clock.advance(11)
    assert layer.group_channels("room") == ["daphne.response.live!1"]
    assert layer.group_channels("other") == []


def test_memberships_older_than_group_expiry_are_dropped(
    make_layer: MakeLayer, clock: FakeClock
) -> None:
    layer = make_layer(group_expiry=100, time_fn=clock)
    layer.group_add("g", "old")
    clock.advance(60)
    layer.group_add("g", "new")
    clock.advance(50)
    assert layer.group_channels("g") == ["new"]
    layer.send_group("g", {"x": 1})
    assert layer.receive(["old", "new"]) == ("new", {"x": 1})
    assert layer.receive(["old", "new"]) == (None, None)


def test_send_group_skips_full_members_and_never_raises(make_layer: MakeLayer) -> None:
    layer = make_layer(capacity=1)
    layer.group_add("g", "full")
    layer.group_add("g", "roomy")
    layer.send("full", {"first": True})
    layer.send_group("g", {"group": 1})
    assert layer.receive(["roomy"]) == ("roomy", {"group": 1})
    assert layer.receive(["full"]) == ("full", {"first": True})
    assert layer.receive(["full"]) == (None, None)
    assert layer.channel_statistics("full")["channel_full_count"] == 1


def test_channel_capacity_globs_and_regexes_apply_to_group_sends(make_layer: MakeLayer) -> None:
    import re

    for capacities in ({"tight.*": 1}, {re.compile(r"tight\..*"): 1}):
        layer = make_layer(capacity=5, channel_capacity=capacities)
        layer.group_add("g", "tight.a")
        layer.group_add("g", "loose.a")
        for index in range(3):
            layer.send_group("g", {"i": index})
        assert layer.channel_statistics("tight.a")["messages_pending"] == 1
        assert layer.channel_statistics("loose.a")["messages_pending"] == 3
        layer.flush()


def test_receive_is_fair_across_channels(make_layer: MakeLayer) -> None:
    layer = make_layer(capacity=50)
    for index in range(20):
        layer.send("busy", {"i": index})
    layer.send("quiet", {"q": True})
    seen = [layer.receive(["busy", "quiet"])[0] for _ in range(3)]
    assert "quiet" in seen


def test_blocking_receive_wakes_when_a_message_arrives(make_layer: MakeLayer) -> None:
    layer = make_layer(receive_timeout=60)
    sender = make_layer()
    timer = threading.Timer(0.3, sender.send, ("wake", {"w": 1}))
    timer.start()
    started = time.monotonic()
    assert layer.receive(["other", "wake"], block=True) == ("wake", {"w": 1})
    # Woken by the message, not by the 60 s timeout.
    assert time.monotonic() - started < 30
    timer.join()


def test_blocking_receive_returns_none_after_receive_timeout(make_layer: MakeLayer) -> None:
    layer = make_layer(receive_timeout=0.2)
    assert layer.receive(["nothing"], block=True) == (None, None)


def test_key_count_returns_to_baseline_after_receive(make_layer: MakeLayer, prefix: str) -> None:
    layer = make_layer()
    for index in range(10):
        layer.send("hygiene", {"i": index})
        layer.send(f"proc!{index}", {"i": index})
    layer.send("blocking", {"b": 1})
    assert keys_of(REDIS_URL, prefix)
    while layer.receive(["hygiene", "proc!"])[0] is not None:
        pass
    assert layer.receive(["blocking"], block=True)[0] == "blocking"
    assert keys_of(REDIS_URL, prefix) == []


def test_key_count_returns_to_baseline_after_expiry(
    make_layer: MakeLayer, prefix: str, clock: FakeClock
) -> None:
    layer = make_layer(expiry=5, time_fn=clock)
    for index in range(10):
        layer.send(f"abandoned{index}", {"i": index})
    layer.group_add("g", "abandoned1")
    clock.advance(6)
    layer.send("trigger", {"t": 1})
    layer.receive(["trigger"])
    # The expired queues, their wake-up lists, the index and the dead member are gone.
    assert keys_of(REDIS_URL, prefix) == []


def test_flush_deletes_only_this_prefix(make_layer: MakeLayer) -> None:
    mine = make_layer()
    theirs = make_layer(prefix=mine.prefix[:-1] + "-other:")
    mine.send("a", {"x": 1})
    mine.group_add("g", "a")
    theirs.send("a", {"y": 2})
    mine.flush()
    assert mine.receive(["a"]) == (None, None)
    assert mine.group_channels("g") == []
    assert theirs.receive(["a"]) == ("a", {"y": 2})


def test_flush_uses_scan_not_keys(make_layer: MakeLayer, monkeypatch: pytest.MonkeyPatch) -> None:
    layer = make_layer()
    layer.send("a", {"x": 1})
    calls: list[Any] = []
    original = redis.Redis.execute_command

    def spy(self: redis.Redis, *args: Any, **options: Any) -> Any:
        calls.append(args[0])
        return original(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", spy)
    layer.flush()
    assert "SCAN" in calls
    assert "KEYS" not in calls


def test_statistics_report_pending_age_and_rates(make_layer: MakeLayer, clock: FakeClock) -> None:
    layer = make_layer(time_fn=clock)
    layer.send("s", {"i": 1})
    layer.send("s", {"i": 2})
    layer.send("t!x", {"i": 3})
    clock.advance(4)
    stats = layer.channel_statistics("s")
    assert stats["messages_count"] == 2
    assert stats["messages_pending"] == 2
    assert stats["messages_max_age"] == pytest.approx(4, abs=0.01)
    assert stats["messages_count_per_second"] == 0
    overall = layer.global_statistics()
    assert overall["messages_count"] == 3
    assert overall["messages_pending"] == 3
    assert layer.channel_statistics("t!y")["messages_pending"] == 1
    layer.send("s", {"i": 4})
    assert layer.channel_statistics("s")["messages_count_per_second"] > 0


def test_new_channel_returns_unique_single_reader_names(make_layer: MakeLayer) -> None:
    layer = make_layer()
    names = {layer.new_channel("reply?") for _ in range(100)}
    assert len(names) == 100
    assert all(name.startswith("reply?") for name in names)
    with pytest.raises(TypeError):
        layer.new_channel("reply!")


def test_same_layer_is_usable_from_many_threads(make_layer: MakeLayer) -> None:
    layer = make_layer(capacity=1000)
    received: list[Any] = []

    def work(index: int) -> None:
        for number in range(50):
            layer.send("shared", {"t": index, "n": number})
        for _ in range(50):
            _channel, message = layer.receive(["shared"], block=True)
            received.append(message)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted((m["t"], m["n"]) for m in received) == [
        (t, n) for t in range(4) for n in range(50)
    ]


@pytest.mark.parametrize("shards", [1, 2])
def test_plain_redis_py_path_works_without_hiredis(make_layer: MakeLayer, shards: int) -> None:
    layer = make_layer(shards=shards, receive_timeout=30)
    layer._fast = None  # what an install without the hiredis extra uses
    layer.send("plain", {"n": 1})
    layer.send("proc!a", {"n": 2})
    assert layer.receive(["plain"], block=True) == ("plain", {"n": 1})
    assert layer.receive(["proc!"], block=True) == ("proc!a", {"n": 2})
    assert layer.receive(["plain"], block=False) == (None, None)
    layer.group_add("g", "plain")
    layer.send_group("g", {"n": 3})
    assert layer.receive(["plain", "proc!"], block=True) == ("plain", {"n": 3})
