"""AsgiHandler runs Django views on http.request messages; ViewConsumer sends the replies."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels import Group
from channels.asgi import ChannelLayerWrapper
from channels.exceptions import ResponseLater
from channels.handler import CHUNK_SIZE, AsgiHandler, AsgiRequest, ViewConsumer, send_reply
from channels.message import Message, pending_message_store
from django.core.signals import got_request_exception, request_finished, request_started
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.test import override_settings
from django.urls import path, reverse

BIG = b"0123456789abcdef" * (CHUNK_SIZE // 16) * 2 + b"tail"  # two full chunks and a bit


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"Hello {request.GET.get('name', 'world')}", content_type="text/plain")


def big(request: HttpRequest) -> HttpResponse:
    return HttpResponse(BIG, content_type="application/octet-stream")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(iter([b"one,", "two,", b"three"]), content_type="text/plain")


class UnreadableResponse(HttpResponse):
    @property  # type: ignore[misc]
    def content(self) -> bytes:
        raise RuntimeError("cannot read the content")

    @content.setter
    def content(self, value: Any) -> None:
        pass


def unreadable(request: HttpRequest) -> HttpResponse:
    return UnreadableResponse()


def failing_parts() -> Iterator[bytes]:
    yield b"first part"
    raise RuntimeError("the stream broke")


def broken_stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(failing_parts())


def cookies(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("cookies")
    response.set_cookie("flavour", "oatmeal", httponly=True)
    response.set_cookie("size", "large")
    return response


def longpoll(request: HttpRequest) -> HttpResponse:
    Group("waiters").add(request.reply_channel)
    raise ResponseLater()


def longpoll_saving(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth.models import Group as AuthGroup

    AuthGroup.objects.create(name="waiting-" + request.GET["id"])
    raise ResponseLater()


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the view blew up")


def echo_body(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.body)


def form(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.POST.get("name", "-"))


def script_prefix(request: HttpRequest) -> HttpResponse:
    return HttpResponse(reverse("prefix"))


class URLConf:
    urlpatterns = [
        path("hello/", hello),
        path("big/", big),
        path("stream/", stream),
        path("cookies/", cookies),
        path("unreadable/", unreadable),
        path("broken-stream/", broken_stream),
        path("longpoll/", longpoll),
        path("longpoll-saving/", longpoll_saving),
        path("broken/", broken),
        path("echo/", echo_body),
        path("form/", form),
        path("prefix/", script_prefix, name="prefix"),
    ]


pytestmark = pytest.mark.usefixtures("_urls")


@pytest.fixture
def _urls() -> Iterator[None]:
    with override_settings(ROOT_URLCONF=URLConf):
        yield


@pytest.fixture
def consume(drain: Callable[[Message], list[dict[str, Any]]]) -> Callable[..., Any]:
    """Run the default HTTP consumer on a message and return the replies it sent."""
    consumer = ViewConsumer()

    def run(message: Message) -> list[dict[str, Any]]:
        consumer(message)
        return drain(message)

    return run


def _headers(reply: dict[str, Any]) -> dict[bytes, list[bytes]]:
    found: dict[bytes, list[bytes]] = {}
    for name, value in reply["headers"]:
        found.setdefault(name, []).append(value)
    return found


def test_view_response_is_one_complete_message(make_message: Any, consume: Any) -> None:
    replies = consume(make_message("/hello/", query_string=b"name=ada"))
    assert len(replies) == 1
    reply = replies[0]
    assert reply["status"] == 200
    assert reply["content"] == b"Hello ada"
    assert reply["more_content"] is False
    headers = _headers(reply)
    assert headers[b"content-type"] == [b"text/plain"]
    assert all(name == name.lower() for name in headers)


def test_large_content_is_split_into_512kb_chunks(make_message: Any, consume: Any) -> None:
    replies = consume(make_message("/big/"))
    assert [len(r["content"]) for r in replies] == [CHUNK_SIZE, CHUNK_SIZE, 4]
    assert [r["more_content"] for r in replies] == [True, True, False]
    assert "status" in replies[0] and all("status" not in r for r in replies[1:])
    assert b"".join(r["content"] for r in replies) == BIG


def test_streaming_response_sends_headers_then_parts(make_message: Any, consume: Any) -> None:
    replies = consume(make_message("/stream/"))
    assert replies[0]["status"] == 200
    assert replies[0]["more_content"] is True
    assert [r["content"] for r in replies[1:]] == [b"one,", b"two,", b"three", b""]
    assert [r["more_content"] for r in replies[1:]] == [True, True, True, False]


def test_file_response_streams_in_512kb_blocks() -> None:
    with tempfile.NamedTemporaryFile(delete=False) as handle:
        handle.write(BIG)
    try:
        response = FileResponse(open(handle.name, "rb"))
        replies = list(AsgiHandler.encode_response(response))
        response.close()
    finally:
        os.unlink(handle.name)
    sizes = [len(r["content"]) for r in replies]
    assert sizes == [0, CHUNK_SIZE, CHUNK_SIZE, 4, 0]
    assert _headers(replies[0])[b"content-length"] == [str(len(BIG)).encode()]


def test_cookies_become_set_cookie_headers(make_message: Any, consume: Any) -> None:
    (reply,) = consume(make_message("/cookies/"))
    set_cookies = sorted(_headers(reply)[b"set-cookie"])
    assert set_cookies[0].startswith(b"flavour=oatmeal;")
    assert b"HttpOnly" in set_cookies[0]
    assert set_cookies[1].startswith(b"size=large;")


def test_encode_response_works_on_its_own_as_in_the_tutorial() -> None:
    replies = list(AsgiHandler.encode_response(HttpResponse("Hello world! You asked for /x")))
    assert replies == [
        {
            "status": 200,
            "headers": [[b"content-type", b"text/html; charset=utf-8"]],
            "content": b"Hello world! You asked for /x",
            "more_content": False,
        }
    ]


def test_unknown_path_gives_django_404(make_message: Any, consume: Any) -> None:
    (reply,) = consume(make_message("/nowhere/"))
    assert reply["status"] == 404


def test_view_error_gives_500_and_is_logged(
    make_message: Any, consume: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="django.request"):
        (reply,) = consume(make_message("/broken/"))
    assert reply["status"] == 500
    assert any("the view blew up" in str(r.exc_info) for r in caplog.records)


def test_response_that_cannot_be_encoded_gives_500(
    make_message: Any, consume: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="channels.handler"):
        (reply,) = consume(make_message("/unreadable/"))
    assert reply["status"] == 500
    assert "cannot read the content" in caplog.text


def test_stream_that_breaks_is_logged_and_not_completed(
    make_message: Any, consume: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="channels.handler"):
        replies = consume(make_message("/broken-stream/"))
    assert [r.get("status") for r in replies] == [200, None]
    assert replies[-1] == {"content": b"first part", "more_content": True}
    assert "the stream broke" in caplog.text


def test_response_later_sends_nothing_and_is_no_error(
    make_message: Any,
    consume: Any,
    layer: ChannelLayerWrapper,
    caplog: pytest.LogCaptureFixture,
) -> None:
    exceptions: list[Any] = []
    finished: list[Any] = []

    def on_exception(**kwargs: Any) -> None:
        exceptions.append(kwargs)

    def on_finished(**kwargs: Any) -> None:
        finished.append(kwargs)

    got_request_exception.connect(on_exception)
    request_finished.connect(on_finished)
    try:
        with caplog.at_level(logging.WARNING):
            message = make_message("/longpoll/")
            assert consume(message) == []
    finally:
        got_request_exception.disconnect(on_exception)
        request_finished.disconnect(on_finished)
    assert exceptions == []
    assert len(finished) == 1
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    # Later, something else answers the waiting client through the group.
    (reply_channel,) = layer.group_channels("waiters")
    assert reply_channel == message.content["reply_channel"]


@pytest.mark.django_db
@pytest.mark.parametrize("atomic", [False, True])
def test_response_later_keeps_the_views_database_work(
    make_message: Any, consume: Any, monkeypatch: pytest.MonkeyPatch, atomic: bool
) -> None:
    from django.contrib.auth.models import Group as AuthGroup
    from django.db import connections

    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", atomic)
    assert consume(make_message("/longpoll-saving/", query_string=b"id=7")) == []
    assert AuthGroup.objects.filter(name="waiting-7").exists()


def test_request_signals_are_sent(make_message: Any, consume: Any) -> None:
    seen: list[str] = []

    def started(**kwargs: Any) -> None:
        seen.append("started")

    def finished(**kwargs: Any) -> None:
        seen.append("finished")

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        consume(make_message("/hello/"))
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert seen == ["started", "finished"]


def test_middleware_runs(make_message: Any, consume: Any) -> None:
    # CommonMiddleware (in the test settings) redirects to the slashed URL.
    (reply,) = consume(make_message("/hello"))
    assert reply["status"] == 301
    assert _headers(reply)[b"location"] == [b"/hello/"]


def test_malformed_message_gives_400(layer: ChannelLayerWrapper, drain: Any) -> None:
    message = Message(
        {"reply_channel": "daphne.response.qwertyuiop!a", "method": "GET", "path": 7},
        "http.request",
        layer,
    )
    ViewConsumer()(message)
    (reply,) = drain(message)
    assert reply["status"] == 400


@override_settings(ALLOWED_HOSTS=["good.example"])
def test_disallowed_host_gives_400(make_message: Any, consume: Any) -> None:
    (reply,) = consume(make_message("/hello/"))
    assert reply["status"] == 400


def test_body_timeout_gives_408(make_message: Any, layer: ChannelLayerWrapper, drain: Any) -> None:
    layer.channel_layer.receive_timeout = 0.01

    class ImpatientRequest(AsgiRequest):
        body_receive_timeout = 0.05

    class ImpatientHandler(AsgiHandler):
        request_class = ImpatientRequest

    class ImpatientConsumer(ViewConsumer):
        handler_class = ImpatientHandler

    message = make_message("/echo/", method="POST", body_channel="http.request.body?abc")
    ImpatientConsumer()(message)
    (reply,) = drain(message)
    assert reply["status"] == 408


def test_aborted_upload_sends_nothing(
    make_message: Any, layer: ChannelLayerWrapper, consume: Any
) -> None:
    layer.send("http.request.body?xyz", {"content": b"part", "more_content": True})
    layer.send("http.request.body?xyz", {"closed": True})
    assert (
        consume(make_message("/echo/", method="POST", body_channel="http.request.body?xyz")) == []
    )


def test_form_post_through_the_view(make_message: Any, consume: Any) -> None:
    (reply,) = consume(
        make_message(
            "/form/",
            method="POST",
            headers=[[b"content-type", b"application/x-www-form-urlencoded"]],
            body=b"name=grace",
        )
    )
    # No CSRF middleware in the test settings: the POST reaches the view.
    assert reply["content"] == b"grace"


def test_root_path_sets_the_script_prefix_for_reverse(make_message: Any, consume: Any) -> None:
    (reply,) = consume(make_message("/mount/prefix/", root_path="/mount"))
    assert reply["content"] == b"/mount/prefix/"
    (reply,) = consume(make_message("/prefix/"))
    assert reply["content"] == b"/prefix/"


def test_replies_go_out_immediately_even_inside_a_consumer(
    make_message: Any, layer: ChannelLayerWrapper
) -> None:
    message = make_message("/hello/")
    pending_message_store.prepare()
    try:
        ViewConsumer()(message)
        prefix = message.content["reply_channel"].split("!")[0] + "!"
        _name, reply = layer.receive([prefix])
    finally:
        pending_message_store.discard()
    assert reply is not None and reply["status"] == 200


def test_default_route_sends_http_requests_to_the_views(
    make_message: Any, layer: ChannelLayerWrapper, drain: Any
) -> None:
    message = make_message("/hello/")
    consumer, kwargs = layer.router.match(message)
    consumer(message, **kwargs)
    (reply,) = drain(message)
    assert reply["content"] == b"Hello world"


def test_send_reply_waits_while_the_channel_is_full(layer: ChannelLayerWrapper) -> None:
    layer.channel_layer.capacity = 1
    channel = Message({"reply_channel": "daphne.response.fullfullfu!a"}, "x", layer).reply_channel
    assert channel is not None
    layer.send(channel.name, {"content": b"first"})
    sleeps: list[float] = []

    def drain_on_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            layer.receive(["daphne.response.fullfullfu!"])

    assert send_reply(channel, {"content": b"second"}, sleep=drain_on_sleep)
    assert sleeps == [0.01, 0.02, 0.04]
    assert layer.receive(["daphne.response.fullfullfu!"])[1] == {"content": b"second"}


def test_send_reply_gives_up_after_its_timeout(
    layer: ChannelLayerWrapper, caplog: pytest.LogCaptureFixture
) -> None:
    layer.channel_layer.capacity = 1
    channel = Message({"reply_channel": "daphne.response.fullfullfu!b"}, "x", layer).reply_channel
    assert channel is not None
    layer.send(channel.name, {"content": b"first"})
    now = [0.0]

    def advance(seconds: float) -> None:
        now[0] += 10

    with caplog.at_level(logging.WARNING, logger="channels.handler"):
        sent = send_reply(
            channel, {"content": b"x"}, timeout=30, sleep=advance, time_fn=lambda: now[0]
        )
    assert sent is False
    assert "stayed full" in caplog.text
