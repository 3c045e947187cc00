"""Auth decorators (message.user) and the WebSocket origin validators."""

from __future__ import annotations

from importlib import import_module
from typing import Any

import pytest
from channels.auth import (
    channel_and_http_session_user_from_http,
    channel_session_user,
    channel_session_user_from_http,
    http_session_user,
    transfer_user,
)
from channels.decorators import django_http_auth
from channels.message import Message
from channels.routing import route
from channels.security.websockets import (
    AllowedHostsOnlyOriginValidator,
    BaseOriginValidator,
    allowed_hosts_only,
)
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
)
from django.test import override_settings

from .conftest import MakeLayer, drain, drive

PREFIX = "daphne.response.abcdefghij!"
REPLY = PREFIX + "sock1"


def logged_in_session(username: str) -> Any:
    user = get_user_model().objects.create_user(username=username, password="pw")
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return store


def connect(session_key: str | None = None, reply: str = REPLY) -> dict[str, Any]:
    headers = [[b"host", b"example.com"]]
    if session_key:
        headers.append([b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()])
    return {"reply_channel": reply, "path": "/", "order": 0, "headers": headers}


@pytest.mark.django_db
def test_user_from_http_is_kept_in_the_channel_session(make_layer: MakeLayer) -> None:
    session = logged_in_session("alice")
    names: list[str] = []

    @channel_session_user_from_http
    def ws_connect(message: Message) -> None:
        names.append(message.user.username)

    @channel_session_user
    def ws_receive(message: Message) -> None:
        names.append(message.user.username or "anonymous")

    layer = make_layer(
        [route("websocket.connect", ws_connect), route("websocket.receive", ws_receive)]
    )
    layer.send("websocket.connect", connect(session.session_key))
    layer.send("websocket.receive", {"reply_channel": REPLY, "path": "/", "order": 1})
    layer.send("websocket.receive", {"reply_channel": PREFIX + "x", "path": "/", "order": 1})
    while drive(layer):
        pass
    assert names == ["alice", "alice", "anonymous"]


@pytest.mark.django_db
def test_http_session_user_and_the_0x_alias(make_layer: MakeLayer) -> None:
    session = logged_in_session("bob")
    seen: list[Any] = []

    @http_session_user
    def consumer(message: Message) -> None:
        seen.append(message.user.username)

    @django_http_auth
    def old_style(message: Message) -> None:
        seen.append((message.user.username, message.session.session_key))

    layer = make_layer()
    consumer(Message(connect(session.session_key), "websocket.connect", layer))
    consumer(Message(connect(None), "websocket.connect", layer))
    old_style(Message(connect(session.session_key), "websocket.connect", layer))
    assert seen == ["bob", "", ("bob", session.session_key)]


@pytest.mark.django_db
def test_channel_and_http_session_user_from_http(make_layer: MakeLayer) -> None:
    session = logged_in_session("carol")
    seen: list[Any] = []

    @channel_and_http_session_user_from_http
    def consumer(message: Message) -> None:
        seen.append((message.user.username, message.http_session.session_key))
        seen.append(message.channel_session[SESSION_KEY])

    consumer(Message(connect(session.session_key), "websocket.connect", make_layer()))
    assert seen == [("carol", session.session_key), session[SESSION_KEY]]


def test_transfer_user_copies_and_clears_auth_keys() -> None:
    source = {SESSION_KEY: "1", BACKEND_SESSION_KEY: "b", HASH_SESSION_KEY: "h"}
    target: dict[str, str] = {"other": "kept"}
    transfer_user(source, target)  # type: ignore[arg-type]
    assert target == {"other": "kept", **source}
    transfer_user({}, target)  # type: ignore[arg-type]
    assert target == {"other": "kept"}


def ws_with_origin(origin: bytes | None) -> dict[str, Any]:
    headers = [[b"host", b"example.com"]]
    if origin is not None:
        headers.append([b"origin", origin])
    return {"reply_channel": REPLY, "path": "/", "order": 0, "headers": headers}


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        (b"http://example.com", True),
        (b"https://example.com:8443", True),
        (b"http://evil.example.org", False),
        (b"http://example.com.evil.org", False),
        (b"null", False),
        (b"", False),
        (None, False),
    ],
)
def test_allowed_hosts_only_checks_the_origin(
    make_layer: MakeLayer, origin: bytes | None, accepted: bool
) -> None:
    @allowed_hosts_only
    def ws_connect(message: Message) -> None:
        message.reply_channel.send({"accept": True})

    layer = make_layer([route("websocket.connect", ws_connect)])
    layer.send("websocket.connect", ws_with_origin(origin))
    assert drive(layer)
    assert drain(layer, PREFIX) == [{"accept": True} if accepted else {"close": True}]


@override_settings(ALLOWED_HOSTS=[], DEBUG=True)
def test_debug_without_allowed_hosts_allows_localhost(make_layer: MakeLayer) -> None:
    validator = AllowedHostsOnlyOriginValidator(lambda m: "ran")
    layer = make_layer()
    assert validator(Message(ws_with_origin(b"http://localhost:8000"), "x", layer)) == "ran"


def test_origin_validator_works_on_methods_and_custom_policies(make_layer: MakeLayer) -> None:
    class OnlyHttps(BaseOriginValidator):
        def validate_origin(self, message: Message, origin: str) -> bool:
            return origin.startswith("https://")

    class Consumer:
        @OnlyHttps
        def connect(self, message: Message) -> str:
            return f"connected {type(self).__name__}"

    layer = make_layer()
    good = Message(ws_with_origin(b"https://a.b"), "websocket.connect", layer)
    assert Consumer().connect(good) == "connected Consumer"
    from channels.exceptions import DenyConnection

    with pytest.raises(DenyConnection):
        Consumer().connect(Message(ws_with_origin(b"http://a.b"), "websocket.connect", layer))
    with pytest.raises(TypeError):
        BaseOriginValidator(lambda m: None)  # type: ignore[abstract]


def test_origin_validator_needs_headers(make_layer: MakeLayer) -> None:
    validator = allowed_hosts_only(lambda m: None)
    with pytest.raises(ValueError, match="can only check messages with headers"):
        validator(Message({"reply_channel": REPLY}, "websocket.receive", make_layer()))
