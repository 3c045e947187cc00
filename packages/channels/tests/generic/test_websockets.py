"""WebsocketConsumer and JsonWebsocketConsumer through the router and worker."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from channels import route_class
from channels.exceptions import DenyConnection
from channels.generic.websockets import JsonWebsocketConsumer, WebsocketConsumer
from channels.message import Message

from .conftest import (
    PREFIX,
    REPLY,
    MakeLayer,
    cookie_headers,
    drain,
    drive_all,
    logged_in_session,
    texts,
    ws,
)

pytestmark = pytest.mark.django_db
seen: list[Any] = []


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    seen.clear()


class EchoConsumer(WebsocketConsumer):
    """The manual's WebsocketConsumer example: groups from the path, echo frames."""

    def connection_groups(self, **kwargs: Any) -> list[str]:
        return ["test", f"room-{kwargs.get('room', 'none')}"]

    def connect(self, message: Message, **kwargs: Any) -> None:
        seen.append(("connect", self.path, kwargs))
        self.message.reply_channel.send({"accept": True})

    def receive(self, text: str | None = None, bytes: bytes | None = None, **kwargs: Any) -> None:
        self.send(text=text, bytes=bytes)

    def disconnect(self, message: Message, **kwargs: Any) -> None:
        seen.append(("disconnect", message["code"]))


def test_websocket_consumer_joins_groups_echoes_and_leaves(make_layer: MakeLayer) -> None:
    layer = make_layer([route_class(EchoConsumer, path=r"^/chat/(?P<room>\w+)/$")])
    layer.send("websocket.connect", ws(0, path="/chat/red/"))
    layer.send("websocket.receive", ws(1, path="/chat/red/", text="hello"))
    layer.send("websocket.receive", ws(2, path="/chat/red/", bytes=b"\x00\x01"))
    assert drive_all(layer) == 3
    assert drain(layer) == [{"accept": True}, {"text": "hello"}, {"bytes": b"\x00\x01"}]
    assert layer.group_channels("test") == [REPLY]
    assert layer.group_channels("room-red") == [REPLY]
    assert seen == [("connect", "/chat/red/", {"room": "red"})]
    layer.send("websocket.disconnect", ws(3, path="/chat/red/", code=1001))
    drive_all(layer)
    assert layer.group_channels("test") == []
    assert layer.group_channels("room-red") == []
    assert seen[-1] == ("disconnect", 1001)


def test_default_connect_accepts_and_groups_attribute_is_used(make_layer: MakeLayer) -> None:
    class Plain(WebsocketConsumer):
        groups = ["everyone"]

    layer = make_layer([route_class(Plain)])
    layer.send("websocket.connect", ws(0))
    layer.send("websocket.receive", ws(1, text="ignored"))
    drive_all(layer)
    assert drain(layer) == [{"accept": True}]
    assert layer.group_channels("everyone") == [REPLY]
    Plain.group_send("everyone", text="to all")
    assert drain(layer) == [{"text": "to all"}]


def test_groups_given_as_a_string_are_refused(make_layer: MakeLayer) -> None:
    class Wrong(WebsocketConsumer):
        groups = "everyone"  # type: ignore[assignment]

    layer = make_layer()
    with pytest.raises(TypeError, match=r"must be a list of group names such as \['everyone'\]"):
        Wrong(Message(ws(0), "websocket.connect", layer))


def test_a_failing_disconnect_still_leaves_the_groups(make_layer: MakeLayer) -> None:
    class Failing(WebsocketConsumer):
        groups = ["g"]

        def disconnect(self, message: Message, **kwargs: Any) -> None:
            raise RuntimeError("boom")

    layer = make_layer([route_class(Failing)])
    layer.send("websocket.connect", ws(0))
    layer.send("websocket.disconnect", ws(1))
    drive_all(layer)
    assert layer.group_channels("g") == []


def test_close_sends_the_status_and_rejects_bad_codes(make_layer: MakeLayer) -> None:
    class Closer(WebsocketConsumer):
        def receive(self, text: str | None = None, bytes: bytes | None = None, **kw: Any) -> None:
            if text == "bye":
                self.close(4001)
            elif text == "plain":
                self.close()
            elif text == "send-close":
                self.send(text="last", close=True)
            else:
                for bad in (999, 2000, 5000, False, "1000"):
                    try:
                        self.close(bad)  # type: ignore[arg-type]
                    except ValueError as exc:
                        seen.append(str(exc))
                for args in ({}, {"text": "a", "bytes": b"b"}):
                    try:
                        self.send(**args)  # type: ignore[arg-type]
                    except ValueError as exc:
                        seen.append(str(exc))

    layer = make_layer([route_class(Closer)])
    for order, text in enumerate(["bye", "plain", "send-close", "bad"], start=1):
        layer.send("websocket.receive", ws(order, text=text))
    drive_all(layer)
    assert drain(layer) == [{"close": 4001}, {"close": True}, {"text": "last", "close": True}]
    assert len(seen) == 7
    assert "close status is 999" in seen[0]
    assert seen[5].startswith("Nothing to send") and "not both" in seen[6]


def test_deny_connection_closes_the_socket(make_layer: MakeLayer) -> None:
    class Denier(WebsocketConsumer):
        groups = ["members"]

        def connect(self, message: Message, **kwargs: Any) -> None:
            raise DenyConnection()

    layer = make_layer([route_class(Denier)])
    layer.send("websocket.connect", ws(0))
    drive_all(layer)
    assert drain(layer) == [{"close": True}]


class JsonEcho(JsonWebsocketConsumer):
    """The manual's JsonWebsocketConsumer example."""

    strict_ordering = False

    def connection_groups(self, **kwargs: Any) -> list[str]:
        return ["test"]

    def connect(self, message: Message, **kwargs: Any) -> None:
        pass

    def receive(self, content: Any = None, **kwargs: Any) -> None:
        self.send(content)


def test_json_consumer_decodes_and_encodes(make_layer: MakeLayer) -> None:
    layer = make_layer([route_class(JsonEcho)])
    layer.send("websocket.connect", ws(0))
    layer.send("websocket.receive", ws(1, text='{"a": [1, 2.5, null, "x"]}'))
    drive_all(layer)
    assert texts(drain(layer)) == [{"a": [1, 2.5, None, "x"]}]
    JsonEcho.group_send("test", {"to": "all"}, close=True)
    sent = drain(layer)
    assert texts(sent) == [{"to": "all"}] and sent[0]["close"] is True


def test_json_consumer_logs_and_drops_bad_frames(
    make_layer: MakeLayer, caplog: pytest.LogCaptureFixture
) -> None:
    layer = make_layer([route_class(JsonEcho)])
    layer.send("websocket.receive", ws(1, text="{not json"))
    layer.send("websocket.receive", ws(2, bytes=b"{}"))
    layer.send("websocket.receive", ws(3, text="[1]"))
    with caplog.at_level(logging.INFO, logger="channels.generic"):
        drive_all(layer)
    assert texts(drain(layer)) == [[1]]
    infos = [r for r in caplog.records if r.name.startswith("channels.generic")]
    assert [r.levelno for r in infos] == [logging.INFO, logging.INFO]
    assert "not valid JSON" in infos[0].getMessage()
    assert "binary" in infos[1].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_json_hooks_can_be_overridden(make_layer: MakeLayer) -> None:
    class Custom(JsonEcho):
        @classmethod
        def decode_json(cls, text: str) -> Any:
            return {"decoded": text}

        @classmethod
        def encode_json(cls, content: Any) -> str:
            return f"<{content['decoded']}>"

    layer = make_layer([route_class(Custom)])
    layer.send("websocket.receive", ws(1, text="raw"))
    drive_all(layer)
    assert drain(layer) == [{"text": "<raw>"}]


def test_http_user_takes_the_user_from_the_cookie_and_keeps_it(make_layer: MakeLayer) -> None:
    class Who(WebsocketConsumer):
        http_user = True

        def connect(self, message: Message, **kwargs: Any) -> None:
            seen.append(("connect", message.user.username, self.message.user.username))
            super().connect(message, **kwargs)

        def receive(self, text: str | None = None, bytes: bytes | None = None, **kw: Any) -> None:
            seen.append(("receive", self.message.user.username, self.message.http_session))

    session = logged_in_session("alice")
    layer = make_layer([route_class(Who)])
    layer.send("websocket.connect", ws(0, headers=cookie_headers(session.session_key)))
    layer.send("websocket.receive", ws(1, text="x"))
    layer.send("websocket.receive", ws(1, reply=PREFIX + "other", text="x"))
    layer.send("websocket.receive", ws(2, text="x", headers=cookie_headers(session.session_key)))
    drive_all(layer)
    # Receive frames carry no cookie; message.http_session is the frame's own, if any.
    assert seen[:3] == [
        ("connect", "alice", "alice"),
        ("receive", "alice", None),
        ("receive", "", None),
    ]
    assert seen[3][:2] == ("receive", "alice")
    assert seen[3][2].session_key == session.session_key


def test_http_user_and_session_keeps_the_http_session(make_layer: MakeLayer) -> None:
    class Rooms(JsonWebsocketConsumer):
        http_user_and_session = True
        groups = ["rooms_watchers"]

        def receive(self, content: Any = None, **kwargs: Any) -> None:
            self.send(
                {
                    "rooms": self.message.http_session.get("rooms", []),
                    "user": self.message.user.username,
                }
            )

    session = logged_in_session("bob")
    layer = make_layer([route_class(Rooms)])
    layer.send("websocket.connect", ws(0, headers=cookie_headers(session.session_key)))
    layer.send("websocket.receive", ws(1, text='{"message": "hey"}'))
    drive_all(layer)
    assert texts(drain(layer)) == [{"accept": True}, {"rooms": ["lobby"], "user": "bob"}]


def test_strict_ordering_runs_frames_in_order(make_layer: MakeLayer) -> None:
    class Ordered(WebsocketConsumer):
        strict_ordering = True

        def receive(self, text: str | None = None, bytes: bytes | None = None, **kw: Any) -> None:
            seen.append(text)

    layer = make_layer([route_class(Ordered)])
    layer.send("websocket.receive", ws(3, text="3"))
    layer.send("websocket.receive", ws(2, text="2"))
    layer.send("websocket.connect", ws(0))
    layer.send("websocket.receive", ws(1, text="1"))
    drive_all(layer)
    assert seen == ["1", "2", "3"]
