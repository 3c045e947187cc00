"""Random operation sequences behave exactly like the in-memory reference layer."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from asgi_ipc import IPCChannelLayer
from asgiref.inmemory import ChannelLayer

from .conftest import FakeClock
from .test_core import assert_consistent

CHANNELS = ["a", "b", "c?x", "c?y", "p!1", "p!2", "q!1"]
GROUPS = ["g1", "g2"]


def call_both(layers: tuple[object, object], method: str, *args: object) -> list[object]:
    """Call ``method`` on both layers; return results or exception type names."""
    results: list[object] = []
    for layer in layers:
        try:
            results.append(getattr(layer, method)(*args))
        except Exception as exc:  # compare exception types, not messages
            results.append(type(exc).__name__)
    return results


@pytest.mark.parametrize("seed", range(6))
def test_random_operations_match_the_in_memory_layer(
    make_layer: Callable[..., IPCChannelLayer], clock: FakeClock, seed: int
) -> None:
    options = {"expiry": 10, "group_expiry": 30, "capacity": 4, "time_fn": clock}
    ours = make_layer(**options)
    reference = ChannelLayer(**options)  # type: ignore[arg-type]
    layers = (ours, reference)
    rng = random.Random(seed)
    for step in range(1500):
        choice = rng.random()
        channel = rng.choice(CHANNELS)
        group = rng.choice(GROUPS)
        if choice < 0.3:
            message = {"step": step, "data": rng.randbytes(rng.choice([1, 300, 3000]))}
            results = call_both(layers, "send", channel, message)
        elif choice < 0.55:
            name = channel if "!" not in channel else channel[: channel.index("!") + 1]
            results = call_both(layers, "receive", [name])
        elif choice < 0.65:
            results = call_both(layers, "group_add", group, channel)
        elif choice < 0.7:
            results = call_both(layers, "group_discard", group, channel)
        elif choice < 0.8:
            results = [sorted(layer.group_channels(group)) for layer in (ours, reference)]
        elif choice < 0.88:
            message = {"group": step}
            results = call_both(layers, "send_group", group, message)
        elif choice < 0.9:
            key = channel
            results = [
                {k: v for k, v in layer.channel_statistics(key).items() if "per_second" not in k}
                for layer in (ours, reference)
            ]
        elif choice < 0.905:
            results = call_both(layers, "flush")
        else:
            clock.advance(rng.choice([0.5, 3, 9, 12]))
            # The reference expires lazily (at most one sweep a second); make it exact,
            # as ours is: a channel leaves the groups it joined before its message expired.
            reference._sweep(clock())
            continue
        assert results[0] == results[1], f"seed {seed} step {step}: {results}"
    assert_consistent(ours)
