"""ASGI 1 channel-layer conformance suite.

Describe a layer with a :class:`LayerProfile` and run the checks through the
pytest plugin (``pytest --layer-profile module:attr``), the unittest
:class:`ConformanceTestCase`, the command line (``python -m asgi_conformance``)
or the hypothesis state machine in :mod:`asgi_conformance.model`.
"""

from __future__ import annotations

from asgi_conformance.context import CheckContext
from asgi_conformance.execute import CheckResult, Status, run_check, run_checks
from asgi_conformance.loading import TargetError, load_profile
from asgi_conformance.profile import (
    Clock,
    LayerProfile,
    ManualClock,
    profile_for_class,
    profile_for_instance,
)
from asgi_conformance.registry import (
    AREAS,
    Check,
    CheckFailed,
    CheckSkipped,
    all_checks,
    check,
    get_check,
)
from asgi_conformance.unittest_case import ConformanceTestCase

__all__ = [
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
