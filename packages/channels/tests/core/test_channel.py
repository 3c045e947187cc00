"""Channel, Group and Message: sending, groups, buffering inside consumers."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from channels import Channel, Group
from channels.message import Message, PendingMessageStore, pending_message_store
from channels.signals import consumer_finished, consumer_started

from .conftest import MakeLayer, drain


def test_channel_send_outside_a_consumer_goes_out_immediately(make_layer: MakeLayer) -> None:
    layer = make_layer()
    Channel("out.side").send({"n": 1})
    assert drain(layer, "out.side") == [{"n": 1}]


def test_channel_uses_the_layer_of_its_alias_or_the_one_given(make_layer: MakeLayer) -> None:
    layer = make_layer()
    assert Channel("x").channel_layer is layer
    other = object()
    assert Channel("x", channel_layer=other).channel_layer is other


@pytest.mark.parametrize("sender", [Channel, Group])
def test_send_of_a_non_dict_raises_the_same_type_error(make_layer: MakeLayer, sender: Any) -> None:
    make_layer()
    with pytest.raises(TypeError, match=r"send\(\) takes a dict"):
        sender("some.name").send("not a dict")


@pytest.mark.parametrize("bad", ["", None, 5, b"bytes"])
def test_bad_names_are_refused(make_layer: MakeLayer, bad: Any) -> None:
    make_layer()
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        Channel(bad)
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        Group(bad)


def test_group_add_discard_send_with_channel_objects_and_names(make_layer: MakeLayer) -> None:
    layer = make_layer()
    group = Group("room")
    group.add(Channel("member.one"))
    group.add("member.two")
    group.add("member.two")  # adding twice does nothing
    group.send({"text": "hi"})
    assert drain(layer, "member.one") == [{"text": "hi"}]
    assert drain(layer, "member.two") == [{"text": "hi"}]
    group.discard("member.one")
    group.discard("never.added")
    group.send({"text": "again"})
    assert drain(layer, "member.one") == []
    assert drain(layer, "member.two") == [{"text": "again"}]


def test_group_add_refuses_other_types(make_layer: MakeLayer) -> None:
    make_layer()
    with pytest.raises(TypeError, match=r"pass message\.reply_channel"):
        Group("room").add(42)  # type: ignore[arg-type]


def test_sends_inside_a_consumer_wait_for_consumer_finished(make_layer: MakeLayer) -> None:
    layer = make_layer()
    Group("g").add("member.x")
    consumer_started.send(sender=None, environ={})
    try:
        Channel("buffered").send({"n": 1})
        Group("g").send({"n": 2})
        Channel("direct").send({"n": 3}, immediately=True)
        assert drain(layer, "buffered") == []
        assert drain(layer, "member.x") == []
        assert drain(layer, "direct") == [{"n": 3}]
    finally:
        consumer_finished.send(sender=None)
    assert drain(layer, "buffered") == [{"n": 1}]
    assert drain(layer, "member.x") == [{"n": 2}]
    assert not pending_message_store.active()


def test_flush_retries_a_full_channel_with_backoff_then_drops_with_a_log(
    make_layer: MakeLayer, caplog: pytest.LogCaptureFixture
) -> None:
    layer = make_layer(capacity=1)
    sleeps: list[float] = []
    store = PendingMessageStore(retry_delays=(0.1, 0.2, 0.4), sleep_fn=sleeps.append)
    store.prepare()
    store.append(Channel("full"), {"n": 1})
    store.append(Channel("full"), {"n": 2})
    store.append(Channel("other"), {"n": 3})
    with caplog.at_level(logging.WARNING, logger="channels.message"):
        store.send_and_flush()
    assert sleeps == [0.1, 0.2, 0.4]
    assert drain(layer, "full") == [{"n": 1}]
    assert drain(layer, "other") == [{"n": 3}]  # the rest of the buffer still went out
    assert "stayed full" in caplog.text


def test_flush_succeeds_once_the_channel_drains(make_layer: MakeLayer) -> None:
    layer = make_layer(capacity=1)
    layer.send("slow", {"n": 0})

    def reader_catches_up(delay: float) -> None:
        layer.receive(["slow"])

    store = PendingMessageStore(retry_delays=(0.1,), sleep_fn=reader_catches_up)
    store.prepare()
    store.append(Channel("slow"), {"n": 1})
    store.send_and_flush()
    assert drain(layer, "slow") == [{"n": 1}]


def test_message_exposes_content_channel_reply_channel_and_layer(make_layer: MakeLayer) -> None:
    layer = make_layer()
    message = Message({"path": "/a/", "reply_channel": "daphne.response.ab!cd"}, "x.y", layer)
    assert message.content["path"] == "/a/"
    assert message["path"] == "/a/"
    assert message.get("missing", 5) == 5
    assert "path" in message
    assert message.channel == Channel("x.y")
    assert message.reply_channel is not None
    assert message.reply_channel.name == "daphne.response.ab!cd"
    assert message.channel_layer is layer
    assert Message({}, "x.y", layer).reply_channel is None
    copy = message.copy()
    copy["path"] = "/b/"
    assert message["path"] == "/a/"


def test_message_content_must_be_a_dict(make_layer: MakeLayer) -> None:
    layer = make_layer()
    with pytest.raises(TypeError, match="must be a dict"):
        Message(["no"], "x", layer)  # type: ignore[arg-type]


def test_a_bad_name_fails_where_the_buffered_send_is_made(make_layer: MakeLayer) -> None:
    make_layer()
    consumer_started.send(sender=None, environ={})
    try:
        with pytest.raises(TypeError):
            Channel("bad name!!").send({"n": 1})
        with pytest.raises(TypeError):
            Group("bad group?").send({"n": 1})
    finally:
        consumer_finished.send(sender=None)


def test_flush_sends_consecutive_channel_sends_in_one_send_many_call(
    make_layer: MakeLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = make_layer()
    Group("g").add("member.y")
    calls: list[list[str]] = []
    original = layer.send_many

    def spy(pairs: Any) -> Any:
        calls.append([channel for channel, _message in pairs])
        return original(pairs)

    monkeypatch.setattr(layer, "send_many", spy, raising=False)
    store = PendingMessageStore()
    store.prepare()
    store.append(Channel("a"), {"n": 1})
    store.append(Channel("b"), {"n": 2})
    store.append(Group("g"), {"n": 3})
    store.append(Channel("a"), {"n": 4})
    store.append(Channel("c"), {"n": 5})
    store.send_and_flush()
    assert calls == [["a", "b"], ["a", "c"]]
    assert drain(layer, "a") == [{"n": 1}, {"n": 4}]
    assert drain(layer, "b") == [{"n": 2}]
    assert drain(layer, "member.y") == [{"n": 3}]
    assert drain(layer, "c") == [{"n": 5}]


def test_a_full_channel_in_a_batch_is_retried_alone_and_the_rest_goes_out(
    make_layer: MakeLayer, caplog: pytest.LogCaptureFixture
) -> None:
    layer = make_layer(capacity=1)
    layer.send("slow", {"n": 0})

    def reader_catches_up(delay: float) -> None:
        layer.receive(["slow"])

    store = PendingMessageStore(retry_delays=(0.1,), sleep_fn=reader_catches_up)
    store.prepare()
    store.append(Channel("fast"), {"n": 1})
    store.append(Channel("slow"), {"n": 2})
    store.append(Channel("bad channel name"), {"n": 3})
    store.append(Channel("other"), {"n": 4})
    with caplog.at_level(logging.ERROR, logger="channels.message"):
        store.send_and_flush()
    assert drain(layer, "fast") == [{"n": 1}]
    assert drain(layer, "slow") == [{"n": 2}]
    assert drain(layer, "other") == [{"n": 4}]
    assert "Could not send a buffered message to <Channel 'bad channel name'>" in caplog.text


def test_flush_works_on_layers_without_send_many(make_layer: MakeLayer) -> None:
    class PlainLayer:
        def __init__(self) -> None:
            self.sent: list[tuple[str, dict[str, Any]]] = []

        def send(self, channel: str, message: dict[str, Any]) -> None:
            self.sent.append((channel, message))

    plain = PlainLayer()
    store = PendingMessageStore()
    store.prepare()
    store.append(Channel("a", channel_layer=plain), {"n": 1})
    store.append(Channel("b", channel_layer=plain), {"n": 2})
    store.send_and_flush()
    assert plain.sent == [("a", {"n": 1}), ("b", {"n": 2})]
