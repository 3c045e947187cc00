"""Generic consumer test helpers: a one-message worker (make_layer: tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import import_module
from typing import Any

from channels.asgi import ChannelLayerWrapper
from channels.worker import Worker
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model

MakeLayer = Callable[..., ChannelLayerWrapper]
PREFIX = "daphne.response.abcdefghij!"
REPLY = PREFIX + "sock1"


def drive(layer: ChannelLayerWrapper) -> bool:
    """Let a worker take and dispatch one message; return False if there was none."""
    worker = Worker(layer, signal_handlers=False)
    received = worker.receive(worker.listen_channels(), block=False)
    if received is None:
        return False
    worker.dispatch(*received)
    return True


def drive_all(layer: ChannelLayerWrapper) -> int:
    """Dispatch messages until none are left; return how many ran."""
    count = 0
    while drive(layer):
        count += 1
    return count


def drain(layer: ChannelLayerWrapper, channel: str = REPLY) -> list[dict[str, Any]]:
    """Return every message waiting on ``channel`` (non-blocking).

    A process-specific channel (``prefix!client``) is read through its prefix,
    as Daphne reads it; messages for other clients of the prefix are dropped.
    """
    listen = channel[: channel.index("!") + 1] if "!" in channel else channel
    found = []
    while True:
        name, content = layer.receive([listen], block=False)
        if name is None:
            return found
        if name == channel:
            found.append(content)


def texts(messages: list[dict[str, Any]]) -> list[Any]:
    """Return the decoded JSON of each message's text (other messages as they are)."""
    return [json.loads(m["text"]) if "text" in m else m for m in messages]


def ws(order: int, reply: str = REPLY, path: str = "/", **content: Any) -> dict[str, Any]:
    """Return a websocket.* message body for the socket ``reply``."""
    return {"reply_channel": reply, "path": path, "order": order, **content}


def logged_in_session(username: str) -> Any:
    """Create a user and a saved HTTP session in which that user is logged in."""
    user = get_user_model().objects.create_user(username=username, password="pw")
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store["rooms"] = ["lobby"]
    store.save()
    return store


def cookie_headers(session_key: str) -> list[list[bytes]]:
    """Return connect headers carrying the session cookie."""
    cookie = f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()
    return [[b"host", b"example.com"], [b"cookie", cookie]]
