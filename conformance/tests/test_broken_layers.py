"""Each deliberately broken layer fails the check aimed at it; the real layer passes it."""

from __future__ import annotations

import pytest
from asgi_conformance import Status, get_check, run_check
from conformance_doubles import BROKEN, clocked_profile

CASES = [(layer, check_id) for layer, ids in BROKEN.items() for check_id in ids]


@pytest.mark.parametrize(
    ("layer", "check_id"), CASES, ids=[f"{layer.__name__}-{cid}" for layer, cid in CASES]
)
def test_broken_layer_fails_the_check_aimed_at_it(layer: type, check_id: str) -> None:
    result = run_check(get_check(check_id), clocked_profile(layer, block_limit=5.0))
    assert result.status == Status.FAILED, (result.status, result.reason)
    assert result.reason


@pytest.mark.parametrize("check_id", sorted({cid for ids in BROKEN.values() for cid in ids}))
def test_inmemory_layer_passes_the_checks_aimed_at_broken_layers(check_id: str) -> None:
    result = run_check(get_check(check_id), clocked_profile())
    assert result.status == Status.PASSED, result.reason


def test_at_least_four_broken_layers_cover_the_required_faults() -> None:
    names = {layer.__name__ for layer in BROKEN}
    assert {
        "DropsMessagesLayer",
        "IgnoresCapacityLayer",
        "AliasesMessagesLayer",
        "KeepsDiscardedLayer",
    } <= names
