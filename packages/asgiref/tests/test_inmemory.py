"""The in-memory layer: expiry and groups by moving a fake clock, waking without polling."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import pytest
from asgiref.inmemory import ChannelLayer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def layer(clock: FakeClock) -> ChannelLayer:
    return ChannelLayer(expiry=10, group_expiry=100, capacity=3, time_fn=clock, receive_timeout=2)


def test_default_capacity_is_one_hundred() -> None:
    layer = ChannelLayer()
    for index in range(100):
        layer.send("c", {"i": index})
    with pytest.raises(layer.ChannelFull):
        layer.send("c", {"i": 100})


def test_per_channel_capacity_is_honoured(clock: FakeClock) -> None:
    layer = ChannelLayer(capacity=5, channel_capacity={"small*": 1}, time_fn=clock)
    layer.send("small.one", {})
    with pytest.raises(layer.ChannelFull):
        layer.send("small.one", {})
    for _ in range(5):
        layer.send("other", {})


def test_messages_expire_and_stop_counting_against_capacity(
    layer: ChannelLayer, clock: FakeClock
) -> None:
    for index in range(3):
        layer.send("c", {"i": index})
    with pytest.raises(layer.ChannelFull):
        layer.send("c", {"i": 3})
    clock.advance(11)
    layer.send("c", {"i": 4})
    assert layer.receive(["c"]) == ("c", {"i": 4})
    assert layer.receive(["c"]) == (None, None)


def test_process_specific_channels_share_prefix_capacity_and_order(layer: ChannelLayer) -> None:
    layer.send("p!a", {"n": 1})
    layer.send("p!b", {"n": 2})
    layer.send("p!a", {"n": 3})
    with pytest.raises(layer.ChannelFull):
        layer.send("p!c", {"n": 4})
    received = [layer.receive(["p!"]) for _ in range(3)]
    assert received == [("p!a", {"n": 1}), ("p!b", {"n": 2}), ("p!a", {"n": 3})]


def test_expired_message_drops_its_channel_from_groups(
    layer: ChannelLayer, clock: FakeClock
) -> None:
    layer.group_add("g", "keep")
    layer.group_add("g", "stale")
    layer.group_add("g", "proc!local")
    layer.send("stale", {})
    layer.send("proc!local", {})
    clock.advance(11)
    assert sorted(layer.group_channels("g")) == ["keep"]


def test_delivered_message_keeps_membership(layer: ChannelLayer, clock: FakeClock) -> None:
    layer.group_add("g", "c")
    layer.send("c", {})
    assert layer.receive(["c"]) == ("c", {})
    clock.advance(50)
    assert layer.group_channels("g") == ["c"]


def test_group_expiry_drops_old_memberships(layer: ChannelLayer, clock: FakeClock) -> None:
    layer.group_add("g", "old")
    clock.advance(60)
    layer.group_add("g", "new")
    clock.advance(50)
    assert layer.group_channels("g") == ["new"]
    layer.send_group("g", {"x": 1})
    assert layer.receive(["old"]) == (None, None)
    assert layer.receive(["new"]) == ("new", {"x": 1})


def test_group_channels_returns_a_copy(layer: ChannelLayer) -> None:
    layer.group_add("g", "a")
    members = layer.group_channels("g")
    members.append("b")
    assert layer.group_channels("g") == ["a"]


def test_send_group_skips_full_members_without_raising(layer: ChannelLayer) -> None:
    layer.group_add("g", "full")
    layer.group_add("g", "free")
    for _ in range(3):
        layer.send("full", {})
    layer.send_group("g", {"m": 1})
    assert layer.receive(["free"]) == ("free", {"m": 1})
    assert layer.channel_statistics("full")["channel_full_count"] == 1


def test_group_members_get_independent_copies(layer: ChannelLayer) -> None:
    layer.group_add("g", "a")
    layer.group_add("g", "b")
    layer.send_group("g", {"list": [1]})
    _, first = layer.receive(["a"])
    assert first is not None
    first["list"].append(2)
    assert layer.receive(["b"]) == ("b", {"list": [1]})


def test_sent_message_is_isolated_from_later_mutation(layer: ChannelLayer) -> None:
    message = {"list": [1]}
    layer.send("c", message)
    message["list"].append(2)
    assert layer.receive(["c"]) == ("c", {"list": [1]})


def test_flush_empties_messages_and_groups(layer: ChannelLayer) -> None:
    layer.send("c", {})
    layer.group_add("g", "c")
    layer.flush()
    assert layer.receive(["c"]) == (None, None)
    assert layer.group_channels("g") == []
    assert layer.global_statistics()["messages_count"] == 0


def test_new_channel_makes_unused_single_reader_names(layer: ChannelLayer) -> None:
    names = {layer.new_channel("reply?") for _ in range(50)}
    assert len(names) == 50
    assert all(name.startswith("reply?") for name in names)
    with pytest.raises(TypeError):
        layer.new_channel("reply!")


def test_statistics_report_spec_keys(layer: ChannelLayer, clock: FakeClock) -> None:
    layer.send("c", {})
    clock.advance(2)
    layer.send("c", {})
    stats = layer.channel_statistics("c")
    assert stats["messages_count"] == 2
    assert stats["messages_pending"] == 2
    assert stats["messages_max_age"] == pytest.approx(2)
    assert stats["channel_full_count"] == 0
    assert {"messages_count_per_second", "channel_full_count_per_second"} <= stats.keys()
    overall = layer.global_statistics()
    assert overall["messages_count"] == 2
    assert overall["messages_pending"] == 2


def test_receive_is_fair_across_channels(layer: ChannelLayer) -> None:
    busy = ChannelLayer(capacity=1000)
    for _ in range(500):
        busy.send("flood", {})
    busy.send("quiet", {"q": True})
    seen = [busy.receive(["flood", "quiet"])[0] for _ in range(4)]
    assert "quiet" in seen


def test_blocking_receive_wakes_when_another_thread_sends() -> None:
    layer = ChannelLayer(receive_timeout=30)
    timer = threading.Timer(0.05, layer.send, ("wake", {"ok": True}))
    timer.start()
    assert layer.receive(["wake"], block=True) == ("wake", {"ok": True})
    timer.join()


def test_blocking_receive_returns_nothing_after_its_timeout() -> None:
    layer = ChannelLayer(receive_timeout=0.1)
    assert layer.receive(["nothing"], block=True) == (None, None)


def test_receive_async_wakes_when_another_thread_sends() -> None:
    layer = ChannelLayer(receive_timeout=30)

    async def main() -> tuple[object, object]:
        timer = threading.Timer(0.05, layer.send, ("reply!x", {"ok": True}))
        timer.start()
        try:
            return await layer.receive_async(["reply!"])
        finally:
            timer.join()

    assert asyncio.run(main()) == ("reply!x", {"ok": True})


def test_receive_async_times_out_and_cleans_up_waiters() -> None:
    layer = ChannelLayer(receive_timeout=0.05)
    assert asyncio.run(layer.receive_async(["nothing"])) == (None, None)
    assert layer._waiters == {}


def test_many_threads_lose_and_duplicate_nothing() -> None:
    layer = ChannelLayer(capacity=10_000, receive_timeout=1)
    received: list[int] = []
    lock = threading.Lock()
    per_sender = 500

    def sender(base: int) -> None:
        for index in range(per_sender):
            layer.send("work", {"n": base + index})

    def receiver() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            channel, message = layer.receive(["work"], block=True)
            if channel is None:
                return
            with lock:
                received.append(message["n"])

    receivers = [threading.Thread(target=receiver) for _ in range(4)]
    senders = [threading.Thread(target=sender, args=(n * per_sender,)) for n in range(4)]
    for thread in receivers + senders:
        thread.start()
    for thread in senders + receivers:
        thread.join()
    counts = Counter(received)
    assert len(counts) == 4 * per_sender
    assert max(counts.values()) == 1
