"""Fixtures: a unique prefix per test, cleaned up afterwards, and a movable clock."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator

import pytest
from asgi_ipc import IPCChannelLayer
from asgi_ipc._segment import remove_prefix

SMALL = {"message_memory": 1 << 20, "group_memory": 1 << 18}


class FakeClock:
    """A wall clock that only moves when told to."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def leftovers(prefix: str) -> list[str]:
    """Return the /dev/shm files that belong to ``prefix``."""
    marker = f"asgi-ipc.{prefix}"
    return [
        name
        for name in os.listdir("/dev/shm")
        if name == marker or name.startswith((marker + ".", "sem." + marker + "."))
    ]


@pytest.fixture
def prefix() -> Iterator[str]:
    """Yield a fresh prefix; remove its segment and semaphores afterwards."""
    name = f"t{os.getpid()}x{secrets.token_hex(4)}"
    yield name
    remove_prefix(name)
    assert leftovers(name) == []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_layer(prefix: str) -> Iterator[Callable[..., IPCChannelLayer]]:
    """Return a factory of small layers on the test's prefix; close them afterwards."""
    made: list[IPCChannelLayer] = []

    def factory(**options: object) -> IPCChannelLayer:
        config: dict[str, object] = {"prefix": prefix, **SMALL, **options}
        layer = IPCChannelLayer(**config)  # type: ignore[arg-type]
        made.append(layer)
        return layer

    yield factory
    for layer in made:
        layer.close()


@pytest.fixture
def layer(make_layer: Callable[..., IPCChannelLayer], clock: FakeClock) -> IPCChannelLayer:
    return make_layer(time_fn=clock, receive_timeout=20)
