"""The shared conformance suite, run with a fake clock so expiry checks need not sleep."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from asgi_conformance.model import run_model
from asgi_conformance.profile import LayerProfile, ManualClock
from asgi_ipc import IPCChannelLayer
from asgi_ipc._segment import remove_prefix
from asgiref.conformance import ConformanceTestCase

from .conftest import leftovers

PREFIX = f"conf-{secrets.token_hex(4)}"
SETTINGS: dict[str, Any] = {"expiry": 5, "group_expiry": 30, "capacity": 20}
CLOCK = ManualClock()
_made: list[IPCChannelLayer] = []


def _layer(**extra: Any) -> IPCChannelLayer:
    options: dict[str, Any] = {
        "prefix": PREFIX,
        "message_memory": 16 << 20,
        "group_memory": 1 << 20,
        "receive_timeout": 1,
        "time_fn": CLOCK,
        **SETTINGS,
        **extra,
    }
    layer = IPCChannelLayer(**options)
    _made.append(layer)
    return layer


def _configure(options: Mapping[str, Any]) -> IPCChannelLayer:
    return _layer(**options)


def teardown_module() -> None:
    for layer in _made:
        layer.close()
    remove_prefix(PREFIX)
    assert leftovers(PREFIX) == []


class IPCConformance(ConformanceTestCase):
    profile = LayerProfile(
        factory=_layer,
        expiry=SETTINGS["expiry"],
        group_expiry=SETTINGS["group_expiry"],
        capacity=SETTINGS["capacity"],
        clock=CLOCK,
        configure=_configure,
        name="asgi_ipc",
    )


def test_hypothesis_model_agrees_with_the_layer() -> None:
    run_model(IPCConformance.profile, max_examples=40, stateful_step_count=30)
