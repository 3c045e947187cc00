"""WebsocketDemultiplexer and WebsocketMultiplexer: streams over one socket."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from channels import route_class
from channels.generic.websockets import (
    JsonWebsocketConsumer,
    WebsocketConsumer,
    WebsocketDemultiplexer,
    WebsocketMultiplexer,
)
from channels.message import Message

from .conftest import REPLY, MakeLayer, drain, drive_all, texts, ws

pytestmark = pytest.mark.django_db
seen: list[Any] = []


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    seen.clear()


# The manual's multiplexing example, as written.
class EchoConsumer(JsonWebsocketConsumer):
    def connect(self, message, multiplexer, **kwargs):  # type: ignore[no-untyped-def]
        # Send data with the multiplexer
        multiplexer.send({"status": "I just connected!"})

    def disconnect(self, message, multiplexer, **kwargs):  # type: ignore[no-untyped-def]
        print("Stream %s is closed" % multiplexer.stream)  # noqa: UP031 (as in the manual)

    def receive(self, content, multiplexer, **kwargs):  # type: ignore[no-untyped-def]
        # Simple echo
        multiplexer.send({"original_message": content})


class AnotherConsumer(JsonWebsocketConsumer):
    def receive(self, content, multiplexer=None, **kwargs):  # type: ignore[no-untyped-def]
        # Some other actions here
        seen.append(("another", content, multiplexer.stream, multiplexer.demultiplexer))


class Demultiplexer(WebsocketDemultiplexer):
    # Wire your JSON consumers here: {stream name : consumer}
    consumers = {
        "echo": EchoConsumer,
        "other": AnotherConsumer,
    }


def frame(stream: Any, payload: Any) -> str:
    return json.dumps({"stream": stream, "payload": payload})


def test_manual_example_connect_receive_disconnect(
    make_layer: MakeLayer, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = make_layer([route_class(Demultiplexer, path=r"^/mux/$")])
    layer.send("websocket.connect", ws(0, path="/mux/"))
    layer.send("websocket.receive", ws(1, path="/mux/", text=frame("echo", {"hi": 1})))
    layer.send("websocket.receive", ws(2, path="/mux/", text=frame("other", [1, 2])))
    layer.send("websocket.disconnect", ws(3, path="/mux/", code=1000))
    assert drive_all(layer) == 4
    assert texts(drain(layer)) == [
        {"accept": True},
        {"stream": "echo", "payload": {"status": "I just connected!"}},
        {"stream": "echo", "payload": {"original_message": {"hi": 1}}},
    ]
    assert seen[0][:3] == ("another", [1, 2], "other")
    assert isinstance(seen[0][3], Demultiplexer)
    assert capsys.readouterr().out == "Stream echo is closed\n"


def test_sub_consumer_classes_are_not_changed_by_multiplexing(make_layer: MakeLayer) -> None:
    before = dict(vars(EchoConsumer))
    layer = make_layer(
        [route_class(Demultiplexer, path=r"^/mux/$"), route_class(JsonWebsocketConsumer)]
    )
    layer.send("websocket.receive", ws(1, path="/mux/", text=frame("echo", "x")))
    drive_all(layer)
    drain(layer)
    assert dict(vars(EchoConsumer)) == before
    assert EchoConsumer.send is JsonWebsocketConsumer.send

    class Echo(JsonWebsocketConsumer):
        def receive(self, content: Any = None, **kwargs: Any) -> None:
            self.send(content)

    class Mux(WebsocketDemultiplexer):
        consumers = {"e": Echo}

    layer = make_layer([route_class(Mux, path=r"^/mux/$"), route_class(Echo)])
    layer.send("websocket.receive", ws(1, path="/mux/", text=frame("e", {"a": 1})))
    layer.send("websocket.receive", ws(2, path="/direct/", text='{"a": 2}'))
    drive_all(layer)
    # self.send() is multiplexed only when the consumer runs under the demultiplexer.
    assert texts(drain(layer)) == [{"stream": "e", "payload": {"a": 1}}, {"a": 2}]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"payload": {}}', "multiplexed frame is a JSON object"),
        ('["echo", {}]', "multiplexed frame is a JSON object"),
        ('{"stream": "nope", "payload": {}}', "no consumer for stream 'nope'"),
        ('{"stream": 5, "payload": {}}', "no consumer for stream 5"),
        ("not json", "not valid JSON"),
    ],
)
def test_bad_frames_are_logged_at_info_and_dropped(
    make_layer: MakeLayer, caplog: pytest.LogCaptureFixture, text: str, problem: str
) -> None:
    layer = make_layer([route_class(Demultiplexer)])
    layer.send("websocket.receive", ws(1, text=text))
    with caplog.at_level(logging.INFO, logger="channels.generic"):
        drive_all(layer)
    assert drain(layer) == []
    [record] = [r for r in caplog.records if r.name.startswith("channels")]
    assert record.levelno == logging.INFO and problem in record.getMessage()


class Upper(WebsocketMultiplexer):
    @classmethod
    def encode_json(cls, content: Any) -> str:
        return json.dumps(content).upper()


def test_custom_multiplexer_class_and_encode(make_layer: MakeLayer) -> None:
    class Mux(Demultiplexer):
        multiplexer_class = Upper

    layer = make_layer([route_class(Mux)])
    layer.send("websocket.receive", ws(1, text=frame("echo", "abc")))
    drive_all(layer)
    assert drain(layer) == [{"text": '{"STREAM": "ECHO", "PAYLOAD": {"ORIGINAL_MESSAGE": "ABC"}}'}]
    assert Mux.encode("s", 1) == {"text": '{"STREAM": "S", "PAYLOAD": 1}'}
    assert WebsocketDemultiplexer.encode("s", {"k": "v"}) == {
        "text": '{"stream": "s", "payload": {"k": "v"}}'
    }


def test_bad_consumers_and_multiplexer_class_are_refused_at_class_creation() -> None:
    with pytest.raises(TypeError, match="consumers must be a dict"):

        class A(WebsocketDemultiplexer):
            consumers = [EchoConsumer]  # type: ignore[assignment]

    with pytest.raises(TypeError, match=r"consumers\['x'\] is 5"):

        class B(WebsocketDemultiplexer):
            consumers = {"x": 5}  # type: ignore[dict-item]

    with pytest.raises(TypeError, match="multiplexer_class must be a subclass"):

        class C(WebsocketDemultiplexer):
            multiplexer_class = dict  # type: ignore[assignment]


def test_connection_groups_multiplexer_group_send_and_close(make_layer: MakeLayer) -> None:
    class Chat(JsonWebsocketConsumer):
        groups = ["chat-stream"]

        def receive(self, content: Any = None, **kwargs: Any) -> None:
            kwargs["multiplexer"].group_send("everyone", {"said": content})
            if content == "bye":
                self.send({"gone": True}, close=4000)

    class Mux(WebsocketDemultiplexer):
        consumers = {"chat": Chat}

        def connection_groups(self):  # type: ignore[no-untyped-def]
            return ["everyone"]

    layer = make_layer([route_class(Mux)])
    layer.send("websocket.connect", ws(0))
    layer.send("websocket.receive", ws(1, text=frame("chat", "bye")))
    drive_all(layer)
    assert layer.group_channels("everyone") == [REPLY]
    assert layer.group_channels("chat-stream") == [REPLY]
    sent = drain(layer)
    assert texts(sent) == [
        {"accept": True},
        {"stream": "chat", "payload": {"said": "bye"}},
        {"stream": "chat", "payload": {"gone": True}},
    ]
    assert sent[2]["close"] == 4000
    layer.send("websocket.disconnect", ws(2))
    drive_all(layer)
    assert layer.group_channels("everyone") == layer.group_channels("chat-stream") == []


def test_disconnect_reaches_every_stream_even_if_one_fails(
    make_layer: MakeLayer, caplog: pytest.LogCaptureFixture
) -> None:
    class Bad(JsonWebsocketConsumer):
        def disconnect(self, message: Message, **kwargs: Any) -> None:
            raise RuntimeError("boom")

    class Good(JsonWebsocketConsumer):
        groups = ["good"]

        def disconnect(self, message: Message, **kwargs: Any) -> None:
            seen.append("good")

    class Mux(WebsocketDemultiplexer):
        consumers = {"bad": Bad, "good": Good}

    layer = make_layer([route_class(Mux)])
    layer.send("websocket.connect", ws(0))
    layer.send("websocket.disconnect", ws(1))
    with caplog.at_level(logging.ERROR):
        drive_all(layer)
    assert seen == ["good"]
    assert layer.group_channels("good") == []
    assert "stream 'bad' failed on disconnect" in caplog.text


def test_plain_functions_and_websocket_consumers_as_streams(make_layer: MakeLayer) -> None:
    def raw(message: Message, multiplexer: WebsocketMultiplexer, **kwargs: Any) -> None:
        seen.append((message.channel.name, message.get("text")))

    class Text(WebsocketConsumer):
        def receive(self, text: str | None = None, bytes: bytes | None = None, **kw: Any) -> None:
            if text == '"bad"':
                try:
                    self.send(text="not json")
                except ValueError as exc:
                    seen.append(str(exc)[:45])
            self.send(text=text.upper())  # type: ignore[union-attr]

    class Mux(WebsocketDemultiplexer):
        consumers = {"raw": raw, "text": Text}

    layer = make_layer([route_class(Mux)])
    layer.send("websocket.connect", ws(0))
    layer.send("websocket.receive", ws(1, text=frame("raw", {"k": 1})))
    layer.send("websocket.receive", ws(2, text=frame("text", "abc")))
    layer.send("websocket.receive", ws(3, text=frame("text", "bad")))
    drive_all(layer)
    assert seen == [
        ("websocket.connect", None),
        ("websocket.receive", '{"k": 1}'),
        "Under a multiplexer, send(text=...) takes the",
    ]
    assert texts(drain(layer)) == [
        {"accept": True},
        {"stream": "text", "payload": "ABC"},
        {"stream": "text", "payload": "BAD"},
    ]


def test_ordering_with_multiplexing_runs_each_connect_once_and_frames_in_order(
    make_layer: MakeLayer,
) -> None:
    class A(JsonWebsocketConsumer):
        strict_ordering = True

        def connect(self, message: Message, **kwargs: Any) -> None:
            seen.append(("A", "connect", message["order"]))

        def receive(self, content: Any = None, **kwargs: Any) -> None:
            seen.append(("A", content))

    class B(A):
        def connect(self, message: Message, **kwargs: Any) -> None:
            seen.append(("B", "connect", message["order"]))

        def receive(self, content: Any = None, **kwargs: Any) -> None:
            seen.append(("B", content))

    class Mux(WebsocketDemultiplexer):
        consumers = {"a": A, "b": B}

    layer = make_layer([route_class(Mux)])
    layer.send("websocket.receive", ws(3, text=frame("a", 3)))
    layer.send("websocket.receive", ws(2, text=frame("b", 2)))
    layer.send("websocket.receive", ws(1, text=frame("a", 1)))
    layer.send("websocket.connect", ws(0))
    layer.send("websocket.receive", ws(4, text=frame("b", 4)))
    drive_all(layer)
    assert seen == [
        ("A", "connect", 0),
        ("B", "connect", 0),
        ("A", 1),
        ("B", 2),
        ("A", 3),
        ("B", 4),
    ]
    assert texts(drain(layer)) == [{"accept": True}]


def test_stream_session_and_user_flags_share_one_channel_session(make_layer: MakeLayer) -> None:
    class Counter(JsonWebsocketConsumer):
        channel_session_user = True

        def receive(self, content: Any = None, **kwargs: Any) -> None:
            session = self.message.channel_session
            session["n"] = session.get("n", 0) + 1
            seen.append((session.session_key, session["n"], self.message.user.is_anonymous))

    def peek(message: Message, **kwargs: Any) -> None:
        seen.append(("peek", message.channel_session.get("n")))

    class Mux(WebsocketDemultiplexer):
        consumers = {"count": Counter, "peek": peek}

    layer = make_layer([route_class(Mux)])
    layer.send("websocket.connect", ws(0))
    for order in (1, 2):
        layer.send("websocket.receive", ws(order, text=frame("count", None)))
    layer.send("websocket.receive", ws(3, text=frame("peek", None)))
    drive_all(layer)
    key = seen[1][0]
    assert seen[1:] == [(key, 1, True), (key, 2, True), ("peek", 2)]
    assert seen[0] == ("peek", None)
