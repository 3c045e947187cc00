"""The hypothesis state machine: the in-memory layer matches the model; broken ones do not."""

from __future__ import annotations

import pytest
from asgi_conformance import LayerProfile, ManualClock
from asgi_conformance.model import ModelUnsupportedError, run_model
from conformance_doubles import (
    DropsMessagesLayer,
    IgnoresCapacityLayer,
    KeepsDiscardedLayer,
    model_profile,
)


def test_inmemory_layer_matches_the_model() -> None:
    run_model(model_profile(), max_examples=60, stateful_step_count=40)


@pytest.mark.parametrize("layer", [DropsMessagesLayer, IgnoresCapacityLayer, KeepsDiscardedLayer])
def test_broken_layer_disagrees_with_the_model(layer: type) -> None:
    clock = ManualClock()
    profile = LayerProfile(
        factory=lambda: layer(capacity=3, time_fn=clock, receive_timeout=0.2),
        expiry=60,
        group_expiry=86400,
        capacity=3,
        clock=clock,
    )
    with pytest.raises(AssertionError):
        run_model(profile, max_examples=300, stateful_step_count=40, shrink=False, derandomize=True)


def test_model_refuses_profiles_where_time_would_pass() -> None:
    from asgiref.inmemory import ChannelLayer

    with pytest.raises(ModelUnsupportedError, match="clock hook"):
        run_model(LayerProfile(factory=ChannelLayer, expiry=1, capacity=5))
    with pytest.raises(ModelUnsupportedError, match="capacity"):
        run_model(LayerProfile(factory=ChannelLayer, expiry=100))
