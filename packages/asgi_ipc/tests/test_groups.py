"""Group membership, group expiry and eviction of channels whose messages expired."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from asgi_ipc import IPCChannelLayer

from .conftest import FakeClock
from .test_core import assert_consistent


def test_group_add_discard_and_channels(layer: IPCChannelLayer) -> None:
    layer.group_add("room", "a")
    layer.group_add("room", "b!x")
    layer.group_add("room", "a")
    assert sorted(layer.group_channels("room")) == ["a", "b!x"]
    layer.group_discard("room", "a")
    layer.group_discard("room", "never-added")
    layer.group_discard("no-such-group", "a")
    assert layer.group_channels("room") == ["b!x"]
    layer.group_discard("room", "b!x")
    assert layer.group_channels("room") == []
    assert_consistent(layer)


def test_send_group_reaches_every_member_once(layer: IPCChannelLayer) -> None:
    for name in ("a", "b", "reply!1", "reply!2"):
        layer.group_add("room", name)
    layer.group_add("other", "a")
    layer.send_group("room", {"text": "hello"})
    assert layer.receive(["a"]) == ("a", {"text": "hello"})
    assert layer.receive(["a"]) == (None, None)
    assert layer.receive(["b"]) == ("b", {"text": "hello"})
    got = {layer.receive(["reply!"])[0], layer.receive(["reply!"])[0]}
    assert got == {"reply!1", "reply!2"}


def test_send_group_skips_full_channels_silently(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    layer = make_layer(capacity=1)
    layer.group_add("room", "full")
    layer.group_add("room", "empty")
    layer.send("full", {"first": True})
    layer.send_group("room", {"text": "x"})
    assert layer.receive(["full"]) == ("full", {"first": True})
    assert layer.receive(["full"]) == (None, None)
    assert layer.receive(["empty"]) == ("empty", {"text": "x"})


def test_group_membership_expires_after_group_expiry(
    make_layer: Callable[..., IPCChannelLayer], clock: FakeClock
) -> None:
    layer = make_layer(group_expiry=100, time_fn=clock)
    layer.group_add("room", "old")
    clock.advance(60)
    layer.group_add("room", "new")
    clock.advance(50)
    assert layer.group_channels("room") == ["new"]
    layer.group_add("room", "new")  # refresh
    clock.advance(99)
    layer.send_group("room", {"still": "member"})
    assert layer.receive(["new"]) == ("new", {"still": "member"})
    assert layer.receive(["old"]) == (None, None)
    assert_consistent(layer)


@pytest.mark.parametrize("member", ["plain", "reply!abc", "single?xyz"])
def test_channel_whose_message_expired_unread_leaves_its_groups(
    make_layer: Callable[..., IPCChannelLayer], clock: FakeClock, member: str
) -> None:
    layer = make_layer(expiry=10, time_fn=clock)
    layer.group_add("one", member)
    layer.group_add("two", member)
    layer.group_add("one", "alive")
    layer.send(member, {"unread": True})
    clock.advance(11)
    assert layer.group_channels("one") == ["alive"]
    assert layer.group_channels("two") == []
    assert_consistent(layer)


def test_expired_message_evicts_even_without_touching_the_group(
    make_layer: Callable[..., IPCChannelLayer], clock: FakeClock
) -> None:
    layer = make_layer(expiry=10, time_fn=clock)
    layer.group_add("room", "gone!x")
    layer.send("gone!x", {})
    clock.advance(11)
    assert layer.receive(["gone!"]) == (None, None)
    assert layer.global_statistics()["messages_pending"] == 0
    assert layer.group_channels("room") == []


def test_thousand_member_group_fan_out(make_layer: Callable[..., IPCChannelLayer]) -> None:
    # All client!* channels share the capacity of their "client!" queue.
    layer = make_layer(message_memory=4 << 20, channel_capacity={"client!": 1000})
    members = [f"client!{number}" for number in range(1000)]
    for name in members:
        layer.group_add("everyone", name)
    assert sorted(layer.group_channels("everyone")) == sorted(members)
    layer.send_group("everyone", {"text": "broadcast"})
    received = set()
    while True:
        channel, message = layer.receive(["client!"])
        if channel is None:
            break
        assert message == {"text": "broadcast"}
        received.add(channel)
    assert received == set(members)
    assert_consistent(layer)


def test_group_memory_exhaustion_raises_channel_full(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    layer = make_layer(group_memory=16 * 1024)
    records = layer._store.layout.n_members
    with pytest.raises(layer.ChannelFull, match="group_memory"):
        for number in range(records + 1):
            layer.group_add("big", f"member{number}")
    assert len(layer.group_channels("big")) == records
    assert_consistent(layer)


def test_member_that_joined_after_its_message_expired_stays(
    make_layer: Callable[..., IPCChannelLayer], clock: FakeClock
) -> None:
    layer = make_layer(expiry=10, time_fn=clock)
    layer.group_add("early", "reply!a")
    layer.send("reply!a", {})
    clock.advance(11)
    layer.group_add("late", "reply!a")
    assert layer.group_channels("late") == ["reply!a"]
    assert layer.group_channels("early") == []


def test_full_name_table_refuses_group_add_and_stays_consistent(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    layer = make_layer(message_memory=1 << 20)
    entries = layer._store.layout.n_entries
    sent = 0
    with pytest.raises(layer.ChannelFull):
        for number in range(entries + 1):
            layer.send(f"busy{number}", {})
            sent += 1
    assert sent == entries
    with pytest.raises(layer.ChannelFull, match="group memory"):
        layer.group_add("room", "newcomer")
    assert layer.group_channels("room") == []
    assert_consistent(layer)
    layer.receive(["busy0"])
    layer.receive(["busy1"])
    layer.group_add("room", "newcomer")  # needs two names: the idle busy0/busy1 are forgotten
    assert layer.group_channels("room") == ["newcomer"]
    assert_consistent(layer)
