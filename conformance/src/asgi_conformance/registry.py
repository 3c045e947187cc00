"""Register conformance checks: plain functions with a stable id, grouped by area.

A check is a function taking a :class:`~asgi_conformance.context.CheckContext`.
It passes by returning, fails by raising :class:`CheckFailed` (or any other
exception, which is reported as an error in the layer), and skips itself by
raising :class:`CheckSkipped` (through ``ctx.skip`` or ``ctx.require_*``).

Ids look like ``"core.send_receive"``: the area, a dot, then a name. They are
stable: profiles list expected failures by id, and the README documents them.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asgi_conformance.context import CheckContext

__all__ = [
    "AREAS",
    "Check",
    "CheckFailed",
    "CheckSkipped",
    "all_checks",
    "check",
    "get_check",
]

logger = logging.getLogger(__name__)

#: The areas, in the order the runner reports them.
AREAS = (
    "core",
    "names",
    "serialization",
    "expiry",
    "capacity",
    "groups",
    "flush",
    "statistics",
    "async",
    "twisted",
    "concurrency",
    "batch",
)

#: Modules holding the checks of each area, imported on first use.
_CHECK_MODULES = (
    "asgi_conformance.checks.core",
    "asgi_conformance.checks.names",
    "asgi_conformance.checks.serialization",
    "asgi_conformance.checks.expiry",
    "asgi_conformance.checks.capacity",
    "asgi_conformance.checks.groups",
    "asgi_conformance.checks.flush",
    "asgi_conformance.checks.statistics",
    "asgi_conformance.checks.asynchronous",
    "asgi_conformance.checks.twisted_checks",
    "asgi_conformance.checks.concurrency",
    "asgi_conformance.checks.batch",
)

CheckFunction = Callable[["CheckContext"], None]


class CheckFailed(AssertionError):
    """Raised by a check when the layer does not behave as the contract says."""


class CheckSkipped(Exception):
    """Raised by a check that cannot run against this layer or profile."""


@dataclass(frozen=True)
class Check:
    """One registered check: its id, area, one-line summary and function."""

    id: str
    area: str
    summary: str
    function: CheckFunction

    def __call__(self, ctx: CheckContext) -> None:
        """Run the check against the layer behind ``ctx``."""
        self.function(ctx)


_REGISTRY: dict[str, Check] = {}


def check(check_id: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as the check ``check_id`` ("area.name")."""
    area, _, name = check_id.partition(".")
    if area not in AREAS or not name:
        raise ValueError(
            f"Check id {check_id!r} must be 'area.name' with area one of {', '.join(AREAS)}."
        )

    def register(function: CheckFunction) -> CheckFunction:
        if check_id in _REGISTRY:
            raise ValueError(f"Check id {check_id!r} is registered twice.")
        doc = (function.__doc__ or "").strip()
        summary = doc.splitlines()[0] if doc else name.replace("_", " ")
        _REGISTRY[check_id] = Check(check_id, area, summary, function)
        return function

    return register


def _load() -> None:
    for module in _CHECK_MODULES:
        importlib.import_module(module)


def all_checks() -> list[Check]:
    """Return every registered check, ordered by area and then registration order."""
    _load()
    order = {area: index for index, area in enumerate(AREAS)}
    return sorted(_REGISTRY.values(), key=lambda item: order[item.area])


def get_check(check_id: str) -> Check:
    """Return the check registered as ``check_id``; raise KeyError naming known ids."""
    _load()
    try:
        return _REGISTRY[check_id]
    except KeyError:
        raise KeyError(
            f"No conformance check {check_id!r}; list them with "
            "'python -m asgi_conformance --list'."
        ) from None
