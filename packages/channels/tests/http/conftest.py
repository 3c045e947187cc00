"""Helpers for the HTTP bridge tests: build real http.request Messages on the in-memory layer."""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from typing import Any

import pytest
from channels.asgi import ChannelLayerWrapper, channel_layers
from channels.message import Message

MakeMessage = Callable[..., Message]


def _letters(count: int) -> str:
    return "".join(random.choices(string.ascii_letters, k=count))


@pytest.fixture
def layer() -> ChannelLayerWrapper:
    """Return the default (in-memory) layer wrapper, fresh for this test."""
    return channel_layers["default"]


@pytest.fixture
def make_message(layer: ChannelLayerWrapper) -> MakeMessage:
    """Return a factory for ``http.request`` Messages with a Daphne-style reply channel."""

    def make(
        path: str = "/hello/",
        method: str = "GET",
        headers: list[list[bytes]] | None = None,
        body: bytes = b"",
        query_string: bytes = b"",
        **extra: Any,
    ) -> Message:
        content: dict[str, Any] = {
            "reply_channel": f"daphne.response.{_letters(10)}!{_letters(8)}",
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "query_string": query_string,
            "root_path": "",
            "headers": [[b"host", b"testserver"], *(headers or [])],
            "body": body,
            "client": ["127.0.0.1", 54321],
            "server": ["127.0.0.1", 8000],
        }
        content.update(extra)
        return Message(content, "http.request", layer)

    return make


@pytest.fixture
def drain(layer: ChannelLayerWrapper) -> Callable[[Message], list[dict[str, Any]]]:
    """Return a function that takes every reply waiting for a message, in order."""

    def take(message: Message) -> list[dict[str, Any]]:
        found = []
        while True:
            prefix = message.content["reply_channel"].split("!")[0] + "!"
            _name, reply = layer.receive([prefix])
            if reply is None:
                return found
            found.append(reply)

    return take
