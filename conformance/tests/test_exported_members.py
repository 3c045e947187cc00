"""The public names of the package, and the README documenting every check."""

from __future__ import annotations

from pathlib import Path

import asgi_conformance
from asgi_conformance import all_checks

README = Path(__file__).resolve().parent.parent / "README.md"


def test_exported_members_are_exactly_the_intended_ones() -> None:
    assert sorted(asgi_conformance.__all__) == sorted(
        [
            "AREAS",
            "Check",
            "CheckContext",
            "CheckFailed",
            "CheckResult",
            "CheckSkipped",
            "Clock",
            "ConformanceTestCase",
            "LayerProfile",
            "ManualClock",
            "Status",
            "TargetError",
            "all_checks",
            "check",
            "get_check",
            "load_profile",
            "profile_for_class",
            "profile_for_instance",
            "run_check",
            "run_checks",
        ]
    )
    for name in asgi_conformance.__all__:
        assert hasattr(asgi_conformance, name)


def test_readme_lists_every_check_id_with_its_summary() -> None:
    text = README.read_text()
    for item in all_checks():
        assert f"| `{item.id}` | {item.summary} |" in text


def test_changelog_check_count_matches() -> None:
    changelog = (README.parent / "CHANGELOG.md").read_text()
    assert f"{len(all_checks())} checks" in changelog
