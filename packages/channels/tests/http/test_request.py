"""AsgiRequest turns an http.request message into a real Django HttpRequest."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from channels.asgi import ChannelLayerWrapper
from channels.exceptions import RequestAborted, RequestTimeout
from channels.handler import AsgiRequest
from channels.message import Message
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.test import override_settings


def test_request_is_a_django_http_request_with_wsgi_style_meta(make_message: Any) -> None:
    message = make_message(
        path="/hello/",
        method="get",
        query_string=b"a=1&b=%C3%A9&a=2",
        headers=[
            [b"user-agent", b"pytest"],
            [b"accept", b"text/html"],
            [b"accept", b"application/json"],
            [b"content-type", b"text/plain; charset=utf-8"],
            [b"content-length", b"0"],
        ],
    )
    request = AsgiRequest(message)
    assert isinstance(request, HttpRequest)
    assert request.message is message
    assert request.reply_channel == message.reply_channel
    assert request.method == "GET"
    assert request.path == request.path_info == "/hello/"
    meta = request.META
    assert meta["REQUEST_METHOD"] == "GET"
    assert meta["PATH_INFO"] == "/hello/"
    assert meta["SCRIPT_NAME"] == ""
    assert meta["QUERY_STRING"] == "a=1&b=%C3%A9&a=2"
    assert meta["SERVER_NAME"] == "127.0.0.1"
    assert meta["SERVER_PORT"] == "8000"
    assert meta["REMOTE_ADDR"] == "127.0.0.1"
    assert meta["REMOTE_PORT"] == "54321"
    assert meta["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert meta["HTTP_USER_AGENT"] == "pytest"
    assert meta["HTTP_ACCEPT"] == "text/html,application/json"
    assert meta["CONTENT_TYPE"] == "text/plain; charset=utf-8"
    assert meta["CONTENT_LENGTH"] == "0"
    assert "HTTP_CONTENT_TYPE" not in meta
    assert request.GET.getlist("a") == ["1", "2"]
    assert request.GET["b"] == "é"
    assert request.content_type == "text/plain"
    assert request.encoding == "utf-8"
    assert request.headers["User-Agent"] == "pytest"
    assert request.get_host() == "testserver"
    assert request.build_absolute_uri() == "http://testserver/hello/?a=1&b=%C3%A9&a=2"


def test_missing_server_and_client_fall_back_like_1x(layer: ChannelLayerWrapper) -> None:
    content = {"reply_channel": "daphne.response.x!y", "method": "GET", "path": "/"}
    request = AsgiRequest(Message(content, "http.request", layer))
    assert request.META["SERVER_NAME"] == "unknown"
    assert request.META["SERVER_PORT"] == "0"
    assert "REMOTE_ADDR" not in request.META
    assert request.META["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert request.body == b""


def test_cookies_are_parsed_and_repeated_cookie_headers_joined(make_message: Any) -> None:
    message = make_message(headers=[[b"cookie", b"a=1; b=2"], [b"cookie", b"c=3"]])
    request = AsgiRequest(message)
    assert request.COOKIES == {"a": "1", "b": "2", "c": "3"}


def test_header_names_with_underscores_are_dropped(make_message: Any) -> None:
    request = AsgiRequest(make_message(headers=[[b"x_forwarded_for", b"6.6.6.6"]]))
    assert "HTTP_X_FORWARDED_FOR" not in request.META


def test_https_scheme_makes_the_request_secure(make_message: Any) -> None:
    request = AsgiRequest(make_message(scheme="https"))
    assert request.scheme == "https"
    assert request.is_secure()


def test_root_path_becomes_script_name_and_is_cut_from_path_info(make_message: Any) -> None:
    request = AsgiRequest(make_message(path="/app/hello/", root_path="/app"))
    assert request.META["SCRIPT_NAME"] == "/app"
    assert request.path_info == "/hello/"
    assert request.path == "/app/hello/"


def test_root_path_is_only_cut_at_a_segment_boundary(make_message: Any) -> None:
    request = AsgiRequest(make_message(path="/application/", root_path="/app"))
    assert request.path_info == "/application/"


@override_settings(FORCE_SCRIPT_NAME="/forced")
def test_force_script_name_wins_over_root_path(make_message: Any) -> None:
    stripped = AsgiRequest(make_message(path="/forced/hello/", root_path="/other"))
    assert stripped.META["SCRIPT_NAME"] == "/forced"
    assert stripped.path_info == "/hello/"
    # Behind a proxy that already removed the prefix, the prefix is put back in request.path.
    proxied = AsgiRequest(make_message(path="/hello/"))
    assert proxied.path_info == "/hello/"
    assert proxied.path == "/forced/hello/"


def test_urlencoded_post_body_is_parsed(make_message: Any) -> None:
    message = make_message(
        method="POST",
        headers=[[b"content-type", b"application/x-www-form-urlencoded"]],
        body=b"name=caf%C3%A9&n=1",
    )
    request = AsgiRequest(message)
    assert request.POST["name"] == "café"
    assert request.META["CONTENT_LENGTH"] == str(len(b"name=caf%C3%A9&n=1"))
    assert request.body == b"name=caf%C3%A9&n=1"


def _send_chunks(layer: ChannelLayerWrapper, channel: str, chunks: list[dict[str, Any]]) -> None:
    for chunk in chunks:
        layer.send(channel, chunk)


def test_body_channel_chunks_are_appended_to_body(
    make_message: Any, layer: ChannelLayerWrapper
) -> None:
    body_channel = layer.new_channel("http.request.body?")
    _send_chunks(
        layer,
        body_channel,
        [
            {"content": b"-middle-", "more_content": True},
            {"content": b"end", "more_content": False},
            {"content": b"IGNORED", "more_content": False},
        ],
    )
    request = AsgiRequest(make_message(method="POST", body=b"start", body_channel=body_channel))
    assert request.body == b"start-middle-end"
    assert request.META["CONTENT_LENGTH"] == str(len(b"start-middle-end"))


def test_multipart_upload_over_the_body_channel_gives_files(
    make_message: Any, layer: ChannelLayerWrapper
) -> None:
    boundary = b"XyZ"
    payload = b"A" * 300_000
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="title"\r\n\r\n'
        b"report\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="upload"; filename="data.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + payload + b"\r\n--XyZ--\r\n"
    )
    body_channel = layer.new_channel("http.request.body?")
    pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    _send_chunks(
        layer,
        body_channel,
        [{"content": p, "more_content": i < len(pieces) - 1} for i, p in enumerate(pieces)],
    )
    message = make_message(
        method="POST",
        headers=[
            [b"content-type", b"multipart/form-data; boundary=" + boundary],
            [b"content-length", str(len(body)).encode()],
        ],
        body_channel=body_channel,
    )
    request = AsgiRequest(message)
    try:
        assert request.POST["title"] == "report"
        upload = request.FILES["upload"]
        assert upload.name == "data.bin"
        assert upload.read() == payload
    finally:
        request.close()


def test_closed_chunk_aborts_the_request(make_message: Any, layer: ChannelLayerWrapper) -> None:
    body_channel = layer.new_channel("http.request.body?")
    _send_chunks(layer, body_channel, [{"content": b"x", "more_content": True}, {"closed": True}])
    with pytest.raises(RequestAborted):
        AsgiRequest(make_message(method="POST", body_channel=body_channel))


class _Clock:
    """A clock that moves ten seconds forward every time it is read."""

    def __init__(self) -> None:
        self._ticks = itertools.count(step=10)

    def __call__(self) -> float:
        return float(next(self._ticks))


class _QuickRequest(AsgiRequest):
    time_fn = _Clock()


def test_missing_body_chunks_time_out(make_message: Any, layer: ChannelLayerWrapper) -> None:
    layer.channel_layer.receive_timeout = 0.01
    body_channel = layer.new_channel("http.request.body?")
    with pytest.raises(RequestTimeout):
        _QuickRequest(make_message(method="POST", body_channel=body_channel))


def test_timeout_restarts_with_every_chunk(make_message: Any, layer: ChannelLayerWrapper) -> None:
    # Each chunk arrives "30 s" after the previous one (3 clock reads): under the 60 s limit.
    body_channel = layer.new_channel("http.request.body?")
    _send_chunks(
        layer,
        body_channel,
        [{"content": b"%d" % i, "more_content": i < 9} for i in range(10)],
    )
    request = _QuickRequest(make_message(method="POST", body_channel=body_channel))
    assert request.body == b"0123456789"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000, FILE_UPLOAD_MAX_MEMORY_SIZE=100)
def test_chunked_body_over_the_memory_limit_is_refused(
    make_message: Any, layer: ChannelLayerWrapper
) -> None:
    body_channel = layer.new_channel("http.request.body?")
    _send_chunks(
        layer,
        body_channel,
        [{"content": b"x" * 600, "more_content": True}, {"content": b"y" * 600}],
    )
    request = AsgiRequest(make_message(method="POST", body_channel=body_channel))
    with pytest.raises(RequestDataTooBig):
        _ = request.body
    request.close()


def test_malformed_message_raises_a_clear_error(layer: ChannelLayerWrapper) -> None:
    from channels._request import RequestMessageError

    with pytest.raises(RequestMessageError, match="'path'"):
        AsgiRequest(Message({"method": "GET", "reply_channel": "x!y"}, "http.request", layer))
    with pytest.raises(RequestMessageError, match="header"):
        AsgiRequest(
            Message(
                {"method": "GET", "path": "/", "headers": [[b"host"]]},
                "http.request",
                layer,
            )
        )
