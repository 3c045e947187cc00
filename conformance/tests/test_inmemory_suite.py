"""The in-memory layer passes the whole suite, with a clock hook and in real time."""

from __future__ import annotations

from asgi_conformance import AREAS, Status, all_checks, run_checks
from conformance_doubles import clocked_profile


def test_inmemory_layer_passes_every_check_with_a_clock_hook() -> None:
    results = run_checks(all_checks(), clocked_profile())
    failed = {r.check.id: r.reason for r in results if r.status == Status.FAILED}
    assert failed == {}
    skipped = {r.check.id for r in results if r.status == Status.SKIPPED}
    # Only the twisted extension is absent from the in-memory layer.
    assert skipped == {"twisted.receive", "twisted.receive_empty"}


def test_checks_have_unique_ids_in_known_areas_and_summaries() -> None:
    checks = all_checks()
    ids = [item.id for item in checks]
    assert len(ids) == len(set(ids))
    assert {item.area for item in checks} == set(AREAS)
    for item in checks:
        assert item.id.startswith(item.area + ".")
        assert item.summary and not item.summary.endswith(" ")
