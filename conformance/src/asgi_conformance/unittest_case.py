"""The unittest way in: subclass :class:`ConformanceTestCase` and set a few attributes.

It keeps the 1.x attribute names (``channel_layer``, ``expiry_delay``,
``capacity_limit``, ``receive_tries``), so a 1.x subclass runs unchanged::

    class RedisConformance(ConformanceTestCase):
        channel_layer = RedisChannelLayer(expiry=1, capacity=5)
        expiry_delay = 1.1
        capacity_limit = 5

Each check becomes a test method named after its id (``core.send_receive`` is
``test_core_send_receive``). Set ``profile`` instead for a fresh layer per test,
a clock hook or ``channel_capacity`` checks, and ``expected_failures`` (id ->
reason) to mark checks as expected failures.
"""

from __future__ import annotations

import dataclasses
import logging
import unittest
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from asgi_conformance.execute import Status, run_check
from asgi_conformance.profile import Clock, LayerProfile
from asgi_conformance.registry import Check, all_checks

__all__ = ["ConformanceTestCase", "method_name"]

logger = logging.getLogger(__name__)


def method_name(check_id: str) -> str:
    """Return the test method name of the check ``check_id``."""
    return "test_" + check_id.replace(".", "_")


class ConformanceTestCase(unittest.TestCase):
    """Run every conformance check as a test method against ``channel_layer`` or ``profile``."""

    # Not collected itself; subclasses are (see __init_subclass__).
    __test__ = False

    channel_layer: ClassVar[Any] = None
    expiry_delay: ClassVar[float | None] = None
    capacity_limit: ClassVar[int | None] = None
    receive_tries: ClassVar[int] = 1
    group_expiry_delay: ClassVar[float | None] = None
    clock: ClassVar[Clock | None] = None
    profile: ClassVar[LayerProfile | None] = None
    expected_failures: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__test__" not in cls.__dict__:
            cls.__test__ = True
        known = {item.id: item for item in all_checks()}
        for check_id in cls.expected_failures:
            if check_id not in known:
                raise ValueError(
                    f"{cls.__name__}.expected_failures names unknown check {check_id!r}; "
                    "see 'python -m asgi_conformance --list'."
                )
            # A fresh function: expectedFailure marks the function object it is given.
            test = unittest.expectedFailure(_make_test(known[check_id]))
            setattr(cls, method_name(check_id), test)

    @classmethod
    def setUpClass(cls) -> None:
        """Skip the base class itself, which has no layer."""
        if cls is ConformanceTestCase:
            raise unittest.SkipTest("ConformanceTestCase is abstract; subclass it.")
        super().setUpClass()

    def conformance_profile(self) -> LayerProfile:
        """Return the profile to run against, from ``profile`` or the 1.x attributes."""
        if self.profile is not None:
            return dataclasses.replace(self.profile, expected_failures={})
        layer = self.channel_layer
        if layer is None:
            raise ValueError(
                f"{type(self).__name__} must set 'channel_layer' (a layer instance) or "
                "'profile' (a LayerProfile)."
            )
        expiry = self.expiry_delay
        if expiry is None:
            expiry = getattr(layer, "expiry", None)
        if expiry is None:
            raise ValueError(
                f"{type(self).__name__} must set 'expiry_delay' to the layer's expiry in "
                "seconds (or use a layer with an 'expiry' attribute)."
            )
        group_expiry = self.group_expiry_delay
        if group_expiry is None:
            group_expiry = getattr(layer, "group_expiry", None)
        return LayerProfile(
            factory=lambda: layer,
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=self.capacity_limit,
            receive_tries=self.receive_tries,
            clock=self.clock,
            reuse=True,
            name=repr(layer),
        )

    def run_conformance_check(self, check: Check) -> None:
        """Run ``check`` and turn its result into a unittest pass, skip or failure."""
        result = run_check(check, self.conformance_profile())
        if result.status == Status.SKIPPED:
            self.skipTest(result.reason)
        if result.status != Status.PASSED:
            if result.error is not None and not isinstance(result.error, AssertionError):
                raise result.error
            self.fail(f"{check.id}: {result.reason}")


def _make_test(check: Check) -> Callable[[ConformanceTestCase], None]:
    def test(self: ConformanceTestCase) -> None:
        self.run_conformance_check(check)

    test.__name__ = method_name(check.id)
    test.__qualname__ = f"ConformanceTestCase.{test.__name__}"
    test.__doc__ = f"{check.id}: {check.summary}"
    return test


for _check in all_checks():
    setattr(ConformanceTestCase, method_name(_check.id), _make_test(_check))
del _check
