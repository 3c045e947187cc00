"""BaseConsumer: method_mapping dispatch, session flags, get_handler and as_route."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from channels import Channel, route, route_class
from channels.generic import BaseConsumer
from channels.message import Message
from channels.routing import RouteClass

from .conftest import REPLY, MakeLayer, drain, drive, drive_all

calls: list[tuple[str, Any]] = []


class SquareConsumer(BaseConsumer):
    """Post the square of ``value`` to the reply channel (the Testing chapter's example)."""

    method_mapping = {"input": "square", "other.input": "other"}

    def square(self, message: Message, **kwargs: Any) -> None:
        calls.append(("square", (self.message is message, dict(self.kwargs), kwargs)))
        message.reply_channel.send({"value": message["value"] ** 2})

    def other(self, message: Message, **kwargs: Any) -> None:
        calls.append(("other", kwargs))


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    calls.clear()


def test_channel_names_come_from_method_mapping() -> None:
    assert SquareConsumer.channel_names() == {"input", "other.input"}
    assert route_class(SquareConsumer).channel_names() == {"input", "other.input"}


def test_dispatch_calls_the_mapped_method_with_message_and_route_kwargs(
    make_layer: MakeLayer,
) -> None:
    layer = make_layer([route_class(SquareConsumer, key=r"^(?P<name>\w+)$")])
    layer.send("input", {"value": 33, "key": "abc", "reply_channel": REPLY})
    layer.send("other.input", {"key": "xyz"})
    assert drive_all(layer) == 2
    assert calls == [
        ("square", (True, {"name": "abc"}, {"name": "abc"})),
        ("other", {"name": "xyz"}),
    ]
    assert drain(layer) == [{"value": 1089}]


def test_a_consumer_can_be_run_directly_with_a_message(make_layer: MakeLayer) -> None:
    layer = make_layer()
    Channel("input").send({"value": 33, "reply_channel": REPLY})
    name, content = layer.receive(["input"], block=False)
    message = Message(content, name, layer)
    SquareConsumer(message)
    assert drain(layer) == [{"value": 1089}]


def test_a_message_on_an_unmapped_channel_raises_value_error(make_layer: MakeLayer) -> None:
    layer = make_layer()
    message = Message({"value": 2}, "unmapped", layer)
    with pytest.raises(ValueError, match="'unmapped', which is not in its method_mapping"):
        SquareConsumer(message)


def test_a_mapping_to_a_missing_method_raises_type_error(make_layer: MakeLayer) -> None:
    class Broken(BaseConsumer):
        method_mapping = {"input": "nope"}

    with pytest.raises(TypeError, match="maps 'input' to 'nope'"):
        Broken(Message({}, "input", make_layer()))


def test_a_malformed_method_mapping_is_refused_at_class_creation() -> None:
    with pytest.raises(TypeError, match="method_mapping must map channel names"):

        class Broken(BaseConsumer):
            method_mapping = {"input": len}  # type: ignore[dict-item]


@pytest.mark.django_db
def test_channel_session_flag_keeps_a_session_per_reply_channel(make_layer: MakeLayer) -> None:
    seen: list[Any] = []

    class Counter(BaseConsumer):
        method_mapping = {"count": "count"}
        channel_session = True

        def count(self, message: Message, **kwargs: Any) -> None:
            message.channel_session["n"] = message.channel_session.get("n", 0) + 1
            seen.append((message.channel_session["n"], self.message.channel_session["n"]))

    layer = make_layer([route_class(Counter)])
    for _ in range(2):
        layer.send("count", {"reply_channel": REPLY})
    layer.send("count", {"reply_channel": REPLY + "x"})
    drive_all(layer)
    assert seen == [(1, 1), (2, 2), (1, 1)]


@pytest.mark.django_db
def test_channel_session_user_flag_gives_message_user(make_layer: MakeLayer) -> None:
    users: list[Any] = []

    class Who(BaseConsumer):
        method_mapping = {"who": "who"}
        channel_session_user = True

        def who(self, message: Message, **kwargs: Any) -> None:
            users.append((message.user, hasattr(message, "channel_session")))

    layer = make_layer([route_class(Who)])
    layer.send("who", {"reply_channel": REPLY})
    drive(layer)
    assert len(users) == 1
    assert users[0][0].is_anonymous and users[0][1]


def test_get_handler_can_be_overridden_to_apply_decorators(make_layer: MakeLayer) -> None:
    def shout(func: Any) -> Any:
        @functools.wraps(func)
        def inner(message: Message, **kwargs: Any) -> Any:
            message.content["text"] = message["text"].upper()
            return func(message, **kwargs)

        return inner

    class Shouting(BaseConsumer):
        method_mapping = {"say": "say"}

        def get_handler(self, *args: Any, **kwargs: Any) -> Any:
            handler = super().get_handler(*args, **kwargs)
            return shout(handler)

        def say(self, message: Message, **kwargs: Any) -> None:
            calls.append(("say", message["text"]))

    layer = make_layer([route_class(Shouting)])
    layer.send("say", {"text": "hi"})
    drive(layer)
    assert calls == [("say", "HI")]


def test_as_route_makes_a_route_class_with_filters(make_layer: MakeLayer) -> None:
    made = SquareConsumer.as_route(key=r"^yes$")
    assert isinstance(made, RouteClass)
    assert made.consumer is SquareConsumer
    layer = make_layer([made, route("input", lambda message, **kw: calls.append(("fn", 0)))])
    layer.send("input", {"value": 2, "key": "yes", "reply_channel": REPLY})
    layer.send("input", {"value": 3, "key": "no", "reply_channel": REPLY})
    drive_all(layer)
    assert [c[0] for c in calls] == ["square", "fn"]


def test_as_route_attrs_make_a_subclass_and_leave_the_class_alone(make_layer: MakeLayer) -> None:
    class Grouped(BaseConsumer):
        method_mapping = {"grp": "grp"}
        group = "default"
        group_prefix = ""

        def grp(self, message: Message, **kwargs: Any) -> None:
            calls.append(("grp", "_".join([self.group_prefix, self.group])))

    news = Grouped.as_route(attrs={"group": "news", "group_prefix": "pre"}, key=r"^news$")
    plain = Grouped.as_route()
    assert news.consumer is not Grouped and issubclass(news.consumer, Grouped)
    assert news.consumer.__name__ == "Grouped"
    assert Grouped.group == "default"
    layer = make_layer([news, plain])
    layer.send("grp", {"key": "news"})
    layer.send("grp", {"key": "other"})
    drive_all(layer)
    assert calls == [("grp", "pre_news"), ("grp", "_default")]


@pytest.mark.parametrize("attrs", [["group"], {"not an identifier": 1}, {1: 2}])
def test_as_route_refuses_attrs_that_are_not_a_dict_of_names(attrs: Any) -> None:
    with pytest.raises(TypeError, match=r"as_route\(attrs=\.\.\.\) takes a dict"):
        SquareConsumer.as_route(attrs=attrs)
