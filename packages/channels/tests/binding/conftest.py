"""Data binding test fixtures: a worker, isolated bindings (make_layer: tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.asgi import ChannelLayerWrapper
from channels.binding import Binding, registered_bindings
from channels.worker import Worker

MakeLayer = Callable[..., ChannelLayerWrapper]
Bind = Callable[..., None]
PREFIX = "daphne.response.abcdefghij!"
REPLY = PREFIX + "sock1"


@pytest.fixture(autouse=True)
def _isolated_bindings() -> Iterator[None]:
    """Run each test with no binding registered but those it defines or ``bind``s.

    Bindings registered before the test (at import time, possibly by other
    test modules) are disconnected for its duration and reconnected after it;
    those registered during the test are disconnected.
    """
    before = registered_bindings()
    for binding in before:
        binding.unregister()
    yield
    for binding in registered_bindings():
        binding.unregister()
    for binding in before:
        binding.register()


@pytest.fixture
def bind() -> Bind:
    """Return a function registering binding classes for the current test only."""

    def register(*bindings: type[Binding]) -> None:
        for binding in bindings:
            binding.register()

    return register


def drive_all(layer: ChannelLayerWrapper) -> int:
    """Dispatch messages one at a time until none are left; return how many ran."""
    worker = Worker(layer, signal_handlers=False)
    count = 0
    while (received := worker.receive(worker.listen_channels(), block=False)) is not None:
        worker.dispatch(*received)
        count += 1
    return count


def drain(layer: ChannelLayerWrapper, channel: str = REPLY) -> list[Any]:
    """Return the decoded JSON text of every message waiting on ``channel``."""
    listen = channel[: channel.index("!") + 1] if "!" in channel else channel
    found = []
    while True:
        name, content = layer.receive([listen], block=False)
        if name is None:
            return found
        if name == channel:
            found.append(json.loads(content["text"]) if "text" in content else content)


def ws(order: int, reply: str = REPLY, path: str = "/binding/", **content: Any) -> dict[str, Any]:
    """Return a websocket.* message body for the socket ``reply``."""
    return {"reply_channel": reply, "path": path, "order": order, **content}


def frame(stream: str, payload: Any) -> str:
    """Return the text of a multiplexed frame."""
    return json.dumps({"stream": stream, "payload": payload})
