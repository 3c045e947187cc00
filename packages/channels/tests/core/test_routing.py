"""Routing: route, route_class, include, filters, Router.channels/match, default routes."""

from __future__ import annotations

from typing import Any

import pytest
from channels.message import Message
from channels.routing import (
    Router,
    connect_consumer,
    include,
    null_consumer,
    route,
    route_class,
)
from django.core.exceptions import ImproperlyConfigured
from testproject.consumers import ClassConsumer, by_path


def consumer_a(message: Message, **kwargs: Any) -> None:
    """Do nothing; a routing target."""


def consumer_b(message: Message, **kwargs: Any) -> None:
    """Do nothing; another routing target."""


def msg(channel: str, **content: Any) -> Message:
    return Message(content, channel, channel_layer=object())


def test_route_matches_its_channel_and_returns_consumer_and_kwargs() -> None:
    r = route("websocket.connect", consumer_a)
    assert r.match(msg("websocket.connect", path="/")) == (consumer_a, {})
    assert r.match(msg("websocket.receive", path="/")) is None
    assert r.channel_names() == {"websocket.connect"}


def test_route_takes_several_channels() -> None:
    r = route(["a.one", "a.two"], consumer_a)
    assert r.channel_names() == {"a.one", "a.two"}
    assert r.match(msg("a.two")) == (consumer_a, {})


def test_filters_are_anchored_at_the_start_and_all_must_match() -> None:
    r = route("http.request", consumer_a, path=r"/chat/", method=r"^GET$")
    assert r.match(msg("http.request", path="/chat/x", method="GET")) == (consumer_a, {})
    assert r.match(msg("http.request", path="/x/chat/", method="GET")) is None
    assert r.match(msg("http.request", path="/chat/", method="POST")) is None
    assert r.match(msg("http.request", method="GET")) is None  # key missing


def test_named_groups_become_kwargs() -> None:
    r = route("websocket.connect", consumer_a, path=r"^/liveblog/(?P<slug>[^/]+)/stream/$")
    assert r.match(msg("websocket.connect", path="/liveblog/news/stream/")) == (
        consumer_a,
        {"slug": "news"},
    )


def test_filters_match_bytes_values() -> None:
    r = route("http.request", consumer_a, query_string=r"^a=(?P<a>\d+)")
    assert r.match(msg("http.request", query_string=b"a=12")) == (consumer_a, {"a": "12"})


def test_include_strips_the_matched_prefix_for_inner_routes() -> None:
    inner = [route("websocket.connect", consumer_a, path=r"^/stream/$")]
    outer = include(inner, path=r"^/liveblog")
    message = msg("websocket.connect", path="/liveblog/stream/")
    assert outer.match(message) == (consumer_a, {})
    assert message["path"] == "/liveblog/stream/"  # the consumer sees the original
    assert outer.match(msg("websocket.connect", path="/stream/")) is None


def test_include_kwargs_merge_and_inner_route_wins() -> None:
    inner = [route("a.b", consumer_a, path=r"^/(?P<id>\d+)/(?P<room>\w+)")]
    outer = include(inner, path=r"^/(?P<room>\w+)/(?P<site>\w+)")
    assert outer.match(msg("a.b", path="/lobby/main/7/kitchen")) == (
        consumer_a,
        {"room": "kitchen", "site": "main", "id": "7"},
    )


def test_first_match_wins() -> None:
    router = Router([route("a.b", consumer_a), route("a.b", consumer_b)])
    assert router.match(msg("a.b")) == (consumer_a, {})


def test_string_import_paths_for_consumers_and_routings() -> None:
    assert route("a.b", "testproject.consumers.by_path").consumer is by_path
    router = Router("testproject.consumers.nested_routing")
    assert router.match(msg("test.dict")) == (by_path, {})
    assert include("testproject.consumers.nested_routing").channel_names() == {"test.dict"}


def test_dict_routing_maps_channels_to_consumers() -> None:
    router = Router({"a.one": consumer_a, "a.two": "testproject.consumers.by_path"})
    assert router.match(msg("a.one")) == (consumer_a, {})
    assert router.match(msg("a.two")) == (by_path, {})


def test_route_class_takes_channels_from_the_consumer() -> None:
    r = route_class(ClassConsumer, path=r"^/room/(?P<room>\w+)")
    assert r.channel_names() == {"websocket.connect", "websocket.receive"}
    assert r.match(msg("websocket.receive", path="/room/a")) == (ClassConsumer, {"room": "a"})
    assert route_class("testproject.consumers.ClassConsumer").consumer is ClassConsumer


def test_route_class_refuses_function_consumers() -> None:
    with pytest.raises(TypeError, match="Use route\\(\\) for function consumers"):
        route_class(consumer_a)


def test_router_channels_include_user_and_default_routes() -> None:
    router = Router([route("chat-messages", consumer_a)])
    assert router.channels == {
        "chat-messages",
        "http.request",
        "websocket.connect",
        "websocket.receive",
        "websocket.disconnect",
    }


def test_default_routes_come_after_user_routes() -> None:
    router = Router([route("websocket.connect", consumer_a, path=r"^/chat/$")])
    assert router.match(msg("websocket.connect", path="/chat/")) == (consumer_a, {})
    assert router.match(msg("websocket.connect", path="/other/")) == (connect_consumer, {})
    assert router.match(msg("websocket.receive", path="/")) == (null_consumer, {})
    assert router.match(msg("websocket.disconnect", path="/")) == (null_consumer, {})
    http_consumer, _ = router.match(msg("http.request", path="/")) or (None, None)
    assert repr(http_consumer) == "channels.handler.ViewConsumer"
    assert router.match(msg("unrouted.channel")) is None


def test_check_default_replaces_the_http_consumer() -> None:
    router = Router([])
    router.check_default(http_consumer=consumer_b)
    assert router.match(msg("http.request", path="/")) == (consumer_b, {})


def test_router_match_uses_any_object_with_match_and_channel_names() -> None:
    class Custom:
        def match(self, message: Message) -> Any:
            return (consumer_b, {"custom": True}) if message.get("x") == 1 else None

        def channel_names(self) -> set[str]:
            return {"custom.chan"}

    router = Router([Custom()])
    assert "custom.chan" in router.channels
    assert router.match(msg("custom.chan", x=1)) == (consumer_b, {"custom": True})


@pytest.mark.parametrize(
    ("routing", "error"),
    [
        ("testproject.nope.routing", "Cannot import the channel routing"),
        ("testproject.consumers.channel_routing", "not a routing object"),
        ([("a", "b")], "entry 0 is"),
        (42, "must be a list, a dict or a dotted path"),
        ({"a.b": "testproject.consumers.missing"}, "Cannot import the consumer"),
    ],
)
def test_bad_routing_raises_improperly_configured(routing: Any, error: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=error):
        Router(routing)


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "error"),
    [
        (("bad name!!", consumer_a), {}, TypeError, "not a valid channel name"),
        (("a.b", "x"), {}, ImproperlyConfigured, "Cannot import the consumer"),
        (("a.b", 5), {}, TypeError, "must be callable"),
        (("a.b", consumer_a), {"path": 5}, TypeError, "must be a regular expression"),
        (("a.b", consumer_a), {"path": "("}, ValueError, "not a valid regular expression"),
        (([], consumer_a), {}, TypeError, "at least one channel"),
    ],
)
def test_bad_routes_raise_clear_errors(args: Any, kwargs: Any, exc: Any, error: str) -> None:
    with pytest.raises(exc, match=error):
        route(*args, **kwargs)
