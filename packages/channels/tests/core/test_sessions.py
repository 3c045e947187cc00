"""channel_session, http_session, channel_and_http_session and enforce_ordering."""

from __future__ import annotations

import logging
from importlib import import_module
from typing import Any

import pytest
from channels import sessions
from channels.message import Message
from channels.routing import route
from channels.sessions import (
    channel_and_http_session,
    channel_session,
    enforce_ordering,
    http_session,
    session_for_reply_channel,
)
from django.conf import settings
from django.test import override_settings

from .conftest import MakeLayer, drain, drive

pytestmark = pytest.mark.django_db
PREFIX = "daphne.response.abcdefghij!"
REPLY = PREFIX + "sock1"


def new_http_session(**data: Any) -> Any:
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    for key, value in data.items():
        store[key] = value
    store.save()
    return store


def ws(order: int, reply: str = REPLY, **content: Any) -> dict[str, Any]:
    return {"reply_channel": reply, "path": "/chat/", "order": order, **content}


def test_channel_session_persists_per_reply_channel(make_layer: MakeLayer) -> None:
    seen: list[Any] = []

    @channel_session
    def connect(message: Message) -> None:
        message.channel_session["room"] = message["path"].strip("/")

    @channel_session
    def receive(message: Message) -> None:
        seen.append(message.channel_session.get("room"))

    layer = make_layer([route("websocket.connect", connect), route("websocket.receive", receive)])
    layer.send("websocket.connect", ws(0))
    layer.send("websocket.receive", ws(1))
    layer.send("websocket.receive", ws(1, reply=PREFIX + "other"))
    while drive(layer):
        pass
    assert seen == ["chat", None]


def test_channel_session_key_derives_from_the_reply_channel() -> None:
    first = session_for_reply_channel(REPLY)
    assert first.session_key == session_for_reply_channel(REPLY).session_key
    assert first.session_key != session_for_reply_channel(PREFIX + "x").session_key
    assert first.session_key is not None and first.session_key.startswith("chn")


def test_channel_session_is_deleted_after_disconnect(make_layer: MakeLayer) -> None:
    @channel_session
    def store(message: Message) -> None:
        message.channel_session["x"] = 1

    layer = make_layer([route(["websocket.connect", "websocket.disconnect"], store)])
    layer.send("websocket.connect", ws(0))
    assert drive(layer)
    key = session_for_reply_channel(REPLY).session_key
    assert session_for_reply_channel(REPLY).exists(key)
    layer.send("websocket.disconnect", ws(1))
    assert drive(layer)
    assert not session_for_reply_channel(REPLY).exists(key)


def test_channel_session_needs_a_reply_channel(make_layer: MakeLayer) -> None:
    layer = make_layer()

    @channel_session
    def consumer(message: Message) -> None:
        pass

    with pytest.raises(ValueError, match="needs a message with a reply_channel"):
        consumer(Message({}, "task.x", layer))


@override_settings(CHANNEL_SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies")
def test_channel_session_refuses_signed_cookie_sessions() -> None:
    with pytest.raises(ValueError, match="cannot use signed-cookie sessions"):
        session_for_reply_channel(REPLY)


@pytest.mark.parametrize("where", ["cookie", "query"])
def test_http_session_reads_cookie_or_session_key_query(make_layer: MakeLayer, where: str) -> None:
    layer = make_layer()
    stored = new_http_session(colour="blue")
    content: dict[str, Any] = ws(0, headers=[[b"host", b"x"]])
    if where == "cookie":
        cookie = f"a=b; {settings.SESSION_COOKIE_NAME}={stored.session_key}".encode()
        content["headers"].append([b"cookie", cookie])
    else:
        content["query_string"] = f"x=1&session_key={stored.session_key}".encode()
    seen: list[Any] = []

    @http_session
    def consumer(message: Message) -> None:
        seen.append(message.http_session["colour"])

    consumer(Message(content, "websocket.connect", layer))
    assert seen == ["blue"]


def test_http_session_is_none_without_a_session(make_layer: MakeLayer) -> None:
    seen: list[Any] = []

    @http_session
    def consumer(message: Message) -> None:
        seen.append(message.http_session)

    consumer(Message(ws(0, headers=[]), "websocket.connect", make_layer()))
    consumer(Message(ws(1), "websocket.receive", make_layer()))
    assert seen == [None, None]


def test_channel_and_http_session_keeps_the_http_session_for_later_messages(
    make_layer: MakeLayer,
) -> None:
    stored = new_http_session(colour="green")
    seen: list[Any] = []

    @channel_and_http_session
    def consumer(message: Message) -> None:
        session = message.http_session
        seen.append(None if session is None else session["colour"])

    layer = make_layer([route(["websocket.connect", "websocket.receive"], consumer)])
    cookie = f"{settings.SESSION_COOKIE_NAME}={stored.session_key}".encode()
    layer.send("websocket.connect", ws(0, headers=[[b"cookie", cookie]]))
    layer.send("websocket.receive", ws(1, text="hi"))
    layer.send("websocket.receive", ws(1, reply=PREFIX + "stranger", text="hi"))
    while drive(layer):
        pass
    assert seen == ["green", "green", None]


def ordered_layer(make_layer: MakeLayer, record: list[Any], fail_on: int | None = None) -> Any:
    @enforce_ordering
    def consumer(message: Message) -> None:
        record.append(message["order"])
        if message["order"] == fail_on:
            raise RuntimeError("consumer failed")

    return make_layer(
        [route(["websocket.connect", "websocket.receive", "websocket.disconnect"], consumer)]
    )


def test_enforce_ordering_runs_messages_in_order(make_layer: MakeLayer) -> None:
    record: list[int] = []
    layer = ordered_layer(make_layer, record)
    layer.send("websocket.receive", ws(2, text="b"))
    layer.send("websocket.receive", ws(1, text="a"))
    layer.send("websocket.connect", ws(0))
    for _ in range(20):
        if not drive(layer, ["websocket.connect", "websocket.receive"]):
            break
    assert record == [0, 1, 2]


def test_enforce_ordering_does_not_stall_when_a_consumer_fails(make_layer: MakeLayer) -> None:
    record: list[int] = []
    layer = ordered_layer(make_layer, record, fail_on=0)
    layer.send("websocket.receive", ws(1, text="a"))
    layer.send("websocket.connect", ws(0))
    for _ in range(20):
        if not drive(layer, ["websocket.connect", "websocket.receive"]):
            break
    assert record == [0, 1]


def test_enforce_ordering_skips_a_missing_message_after_the_timeout(
    make_layer: MakeLayer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    monkeypatch.setattr(sessions, "time_fn", lambda: now[0])
    record: list[int] = []
    layer = ordered_layer(make_layer, record)
    layer.send("websocket.connect", ws(0))
    assert drive(layer)
    layer.send("websocket.receive", ws(2, text="b"))  # order 1 was lost
    assert drive(layer)
    assert record == [0]
    now[0] += sessions.ORDERING_TIMEOUT + 1
    layer.send("websocket.receive", ws(3, text="c"))
    with caplog.at_level(logging.WARNING, logger="channels.sessions"):
        for _ in range(20):
            if not drive(layer, ["websocket.receive"]):
                break
    assert record == [0, 3, 2]
    assert "never arrived" in caplog.text


def test_enforce_ordering_does_not_skip_after_an_idle_socket(
    make_layer: MakeLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(sessions, "time_fn", lambda: now[0])
    record: list[int] = []
    layer = ordered_layer(make_layer, record)
    layer.send("websocket.connect", ws(0))
    assert drive(layer)
    now[0] += sessions.ORDERING_TIMEOUT * 10  # a quiet socket, then two quick messages
    layer.send("websocket.receive", ws(2, text="b"))
    layer.send("websocket.receive", ws(1, text="a"))
    for _ in range(20):
        if not drive(layer, ["websocket.receive"]):
            break
    assert record == [0, 1, 2]


def test_enforce_ordering_closes_the_socket_when_the_wait_channel_is_full(
    make_layer: MakeLayer,
) -> None:
    record: list[int] = []
    layer = ordered_layer(make_layer, record)
    layer.channel_layer.capacity = 1
    layer.channel_layer.get_capacity.cache_clear()
    layer.send("websocket.receive", ws(1, text="a"))
    assert drive(layer)
    layer.send("websocket.receive", ws(2, text="b"))
    assert drive(layer)
    assert record == []
    assert drain(layer, PREFIX) == [{"close": True}]


def test_enforce_ordering_needs_an_order(make_layer: MakeLayer) -> None:
    @enforce_ordering
    def consumer(message: Message) -> None:
        pass

    with pytest.raises(ValueError, match="needs an integer 'order'"):
        consumer(Message({"reply_channel": REPLY}, "websocket.receive", make_layer()))


def test_enforce_ordering_slight_is_refused() -> None:
    with pytest.raises(ValueError, match="Remove slight=True"):
        enforce_ordering(slight=True)


def test_getting_started_ordering_example_works_as_written(make_layer: MakeLayer) -> None:
    from channels import Group
    from channels.auth import channel_session_user, channel_session_user_from_http

    @enforce_ordering
    @channel_session_user_from_http
    def ws_add(message: Message) -> None:
        message.channel_session["sent"] = 0
        Group("chat").add(message.reply_channel)
        message.reply_channel.send({"accept": True})

    @enforce_ordering
    @channel_session_user
    def ws_message(message: Message) -> None:
        message.channel_session["sent"] = message.channel_session["sent"] + 1
        Group("chat").send(
            {"text": "%s: %s" % (message.channel_session["sent"], message["text"])}  # noqa: UP031
        )

    @channel_session_user
    def ws_disconnect(message: Message) -> None:
        Group("chat").discard(message.reply_channel)

    layer = make_layer(
        [
            route("websocket.connect", ws_add),
            route("websocket.receive", ws_message),
            route("websocket.disconnect", ws_disconnect),
        ]
    )
    layer.send("websocket.receive", ws(2, text="second"))
    layer.send("websocket.receive", ws(1, text="first"))
    layer.send("websocket.connect", ws(0, headers=[]))
    for _ in range(30):
        if not drive(layer, ["websocket.connect", "websocket.receive"]):
            break
    assert drain(layer, PREFIX) == [
        {"accept": True},
        {"text": "1: first"},
        {"text": "2: second"},
    ]
    layer.send("websocket.disconnect", ws(3))
    assert drive(layer)
    assert layer.group_channels("chat") == []
