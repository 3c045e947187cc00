"""The pytest way in: ``pytest --layer-profile module:attr`` adds one test per check.

The plugin is installed with the package but stays inert until the option is
given. ``module:attr`` names a ``LayerProfile`` (or a function returning one),
a layer class (built with ``--layer-config`` JSON on top of short test
settings) or a layer instance. Every check becomes an item named
``conformance[<check id>]`` carrying the ``asgi_conformance`` marker, so
``-m asgi_conformance`` runs only the suite and ``-k`` selects checks. The
profile's expected failures become strict xfails. When the profile allows it,
an item ``conformance[model]`` runs the hypothesis state machine too. The
``layer_profile`` fixture hands the profile to your own tests.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from asgi_conformance.execute import Status, run_check
from asgi_conformance.loading import TargetError, load_profile, parse_config
from asgi_conformance.profile import LayerProfile
from asgi_conformance.registry import Check, all_checks

__all__ = ["ConformanceItem", "ModelItem"]

logger = logging.getLogger(__name__)

_PROFILE_KEY = pytest.StashKey[LayerProfile]()
MARKER = "asgi_conformance"


class ConformanceFailure(Exception):
    """A check failed; carries the one-line reason and the details for the report."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--layer-profile``, ``--layer-config`` and ``--layer-receive-tries``."""
    group = parser.getgroup("asgi-conformance", "ASGI channel-layer conformance suite")
    group.addoption(
        "--layer-profile",
        metavar="MODULE:ATTR",
        help="run the conformance checks against this LayerProfile, layer class or instance",
    )
    group.addoption(
        "--layer-config",
        metavar="JSON",
        help="keyword arguments (a JSON object) for a layer class given to --layer-profile",
    )
    group.addoption(
        "--layer-receive-tries",
        type=int,
        metavar="N",
        help="receives to try before deciding a channel is empty (sharded layers)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and load the profile if ``--layer-profile`` was given."""
    config.addinivalue_line("markers", f"{MARKER}: a check of the ASGI conformance suite")
    target = config.getoption("--layer-profile")
    if not target:
        return
    try:
        profile = load_profile(
            target,
            parse_config(config.getoption("--layer-config")),
            receive_tries=config.getoption("--layer-receive-tries"),
        )
    except TargetError as exc:
        raise pytest.UsageError(f"--layer-profile: {exc}") from exc
    config.stash[_PROFILE_KEY] = profile


@pytest.fixture
def layer_profile(request: pytest.FixtureRequest) -> LayerProfile:
    """Return the LayerProfile given with ``--layer-profile`` (skip when none was)."""
    profile = request.config.stash.get(_PROFILE_KEY, None)
    if profile is None:
        pytest.skip("no --layer-profile given")
    return profile


class ConformanceItem(pytest.Item):
    """One conformance check run as a pytest test."""

    def __init__(self, *, check: Check, profile: LayerProfile, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.profile = profile
        self.add_marker(MARKER)
        reason = profile.expected_failures.get(check.id)
        if reason is not None:
            self.add_marker(pytest.mark.xfail(reason=reason, strict=True))

    def runtest(self) -> None:
        """Run the check; skip or fail the item as it says."""
        # Expected failures are handled by the xfail marker, not by run_check.
        profile = dataclasses.replace(self.profile, expected_failures={})
        result = run_check(self.check, profile)
        if result.status == Status.SKIPPED:
            pytest.skip(result.reason)
        if result.status != Status.PASSED:
            raise ConformanceFailure(result.reason, result.details)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """Report a failed check as its reason plus the layer's traceback."""
        if isinstance(excinfo.value, ConformanceFailure):
            reason, details = excinfo.value.args
            text = f"{self.check.id} failed: {reason}"
            return f"{text}\n\n{details}" if details else text
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        """Name the check in reports."""
        return self.path, None, f"conformance check {self.check.id}"


class ModelItem(pytest.Item):
    """The hypothesis state machine comparing the layer with a reference model."""

    def __init__(self, *, profile: LayerProfile, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.profile = profile
        self.add_marker(MARKER)

    def runtest(self) -> None:
        """Run the state machine; skip when the profile cannot support it."""
        from asgi_conformance.model import ModelUnsupportedError, run_model

        try:
            run_model(self.profile)
        except ModelUnsupportedError as exc:
            pytest.skip(str(exc))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        """Name the model test in reports."""
        return self.path, None, "conformance model (hypothesis state machine)"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Append one item per check (and the model) when ``--layer-profile`` is given."""
    profile = config.stash.get(_PROFILE_KEY, None)
    if profile is None:
        return
    for check in all_checks():
        name = f"conformance[{check.id}]"
        items.append(
            ConformanceItem.from_parent(
                session, name=name, nodeid=name, check=check, profile=profile
            )
        )
    name = "conformance[model]"
    items.append(ModelItem.from_parent(session, name=name, nodeid=name, profile=profile))
