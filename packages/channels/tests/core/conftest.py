"""Fixtures for the core tests: a fresh in-memory layer with a chosen routing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.inmemory import ChannelLayer
from channels.asgi import ChannelLayerWrapper, channel_layers
from channels.worker import Worker

MakeLayer = Callable[..., ChannelLayerWrapper]


@pytest.fixture
def make_layer() -> Iterator[MakeLayer]:
    """Return a factory installing an in-memory layer with ``routing`` as the default alias."""

    def make(routing: Any = (), **config: Any) -> ChannelLayerWrapper:
        config.setdefault("receive_timeout", 0.05)
        wrapper = ChannelLayerWrapper(ChannelLayer(**config), "default", list(routing))
        channel_layers.set("default", wrapper)
        return wrapper

    yield make
    channel_layers.reset()


def drive(layer: ChannelLayerWrapper, channels: list[str] | None = None, **kwargs: Any) -> bool:
    """Let a worker take and dispatch one message; return False if there was none."""
    worker = Worker(layer, signal_handlers=False, **kwargs)
    received = worker.receive(channels or worker.listen_channels(), block=False)
    if received is None:
        return False
    worker.dispatch(*received)
    return True


def drain(layer: ChannelLayerWrapper, channel: str) -> list[dict[str, Any]]:
    """Return every message waiting on ``channel`` (non-blocking)."""
    found = []
    while True:
        name, content = layer.receive([channel], block=False)
        if name is None:
            return found
        found.append(content)
