"""Core test helpers: a one-message worker (make_layer: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.asgi import ChannelLayerWrapper
from channels.worker import Worker

MakeLayer = Callable[..., ChannelLayerWrapper]


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
