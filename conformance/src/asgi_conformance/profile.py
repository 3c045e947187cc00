"""Describe a layer under test: how to build it and what it was configured with.

A :class:`LayerProfile` is all a layer author writes to run the suite::

    clock = ManualClock()
    profile = LayerProfile(
        factory=lambda: MyLayer(expiry=1, group_expiry=3, capacity=20, time_fn=clock),
        expiry=1,
        group_expiry=3,
        capacity=20,
        clock=clock,
    )

:func:`profile_for_class` and :func:`profile_for_instance` build profiles for
the runner's two kinds of target.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "CLASS_TEST_SETTINGS",
    "Clock",
    "LayerProfile",
    "ManualClock",
    "profile_for_class",
    "profile_for_instance",
]

logger = logging.getLogger(__name__)

#: Short settings the runner gives a layer class unless ``--config`` sets them.
CLASS_TEST_SETTINGS: dict[str, Any] = {"expiry": 1, "group_expiry": 3, "capacity": 20}


class Clock(Protocol):
    """A clock the checks can move forward instead of sleeping."""

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""


class ManualClock:
    """A thread-safe fake clock: pass it as a layer's ``time_fn`` and as the profile's clock."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """Return the current fake time in seconds."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward; raise ValueError for negative amounts."""
        if seconds < 0:
            raise ValueError(f"Cannot move a clock backwards by {seconds!r} seconds.")
        with self._lock:
            self._now += seconds


@dataclass
class LayerProfile:
    """What the suite needs to know about a layer under test.

    ``factory`` returns a layer for one check; ``expiry``, ``group_expiry`` and
    ``capacity`` are what it was configured with (``None`` skips the checks
    that need them). ``receive_tries`` is how often a check retries a receive
    before concluding a channel is empty (sharded layers need more than one).
    ``clock`` moves time instead of sleeping; without it, time checks sleep
    ``expiry + expiry_margin`` seconds, and skip when that exceeds ``max_sleep``.
    ``configure`` builds a layer with extra constructor options (used by checks
    of ``channel_capacity``). ``expected_failures`` maps check ids to reasons.
    ``reuse`` says the factory returns one shared layer, flushed between checks.
    """

    factory: Callable[[], Any]
    expiry: float | None = None
    group_expiry: float | None = None
    capacity: int | None = None
    receive_tries: int = 1
    clock: Clock | None = None
    expected_failures: Mapping[str, str] = field(default_factory=dict)
    configure: Callable[[Mapping[str, Any]], Any] | None = None
    reuse: bool = False
    expiry_margin: float = 0.5
    max_sleep: float = 10.0
    block_limit: float = 60.0
    name: str = "layer"

    def __post_init__(self) -> None:
        if not callable(self.factory):
            raise TypeError(f"LayerProfile factory must be callable, got {self.factory!r}.")
        if (
            isinstance(self.receive_tries, bool)
            or not isinstance(self.receive_tries, int)
            or self.receive_tries < 1
        ):
            raise ValueError(
                f"receive_tries is {self.receive_tries!r}; it must be a positive int "
                "(1 for unsharded layers)."
            )
        for label in ("expiry", "group_expiry"):
            value = getattr(self, label)
            if value is not None and (not isinstance(value, int | float) or value <= 0):
                raise ValueError(f"{label} is {value!r}; it must be a positive number or None.")
        if self.capacity is not None and (
            isinstance(self.capacity, bool) or not isinstance(self.capacity, int)
        ):
            raise ValueError(f"capacity is {self.capacity!r}; it must be an int or None.")
        self.expected_failures = dict(self.expected_failures)

    def sleep_for(self, seconds: float) -> float:
        """Return how long moving time by ``seconds`` costs (0 with a clock)."""
        return 0.0 if self.clock is not None else seconds + self.expiry_margin

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for the layer: move the clock, or sleep a little longer."""
        if self.clock is not None:
            self.clock.advance(seconds + self.expiry_margin)
        else:
            time.sleep(seconds + self.expiry_margin)


def _accepts(cls: type, name: str) -> bool:
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return True
    return name in parameters or any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()
    )


def _number(layer: Any, name: str, fallback: Any) -> Any:
    value = getattr(layer, name, fallback)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return fallback
    return value


def profile_for_class(
    cls: type,
    config: Mapping[str, Any] | None = None,
    *,
    receive_tries: int = 1,
    expected_failures: Mapping[str, str] | None = None,
) -> LayerProfile:
    """Return a profile building a fresh ``cls(**options)`` for every check.

    ``options`` is ``config`` on top of :data:`CLASS_TEST_SETTINGS` (for the
    settings the class accepts), so a run is quick unless ``config`` says otherwise.
    """
    options: dict[str, Any] = {
        key: value for key, value in CLASS_TEST_SETTINGS.items() if _accepts(cls, key)
    }
    options.update(config or {})

    def configure(extra: Mapping[str, Any]) -> Any:
        return cls(**{**options, **extra})

    def factory() -> Any:
        return cls(**options)

    probe = factory()
    try:
        profile = LayerProfile(
            factory=factory,
            expiry=_number(probe, "expiry", options.get("expiry")),
            group_expiry=_number(probe, "group_expiry", options.get("group_expiry")),
            capacity=_number(probe, "capacity", options.get("capacity")),
            receive_tries=receive_tries,
            expected_failures=expected_failures or {},
            configure=configure,
            name=f"{cls.__module__}.{cls.__qualname__}",
        )
    finally:
        close = getattr(probe, "close", None)
        if callable(close):
            close()
    return profile


def profile_for_instance(
    layer: Any,
    *,
    receive_tries: int = 1,
    expected_failures: Mapping[str, str] | None = None,
) -> LayerProfile:
    """Return a profile that reuses ``layer`` (with its own settings) for every check."""
    return LayerProfile(
        factory=lambda: layer,
        expiry=_number(layer, "expiry", None),
        group_expiry=_number(layer, "group_expiry", None),
        capacity=_number(layer, "capacity", None),
        receive_tries=receive_tries,
        expected_failures=expected_failures or {},
        reuse=True,
        name=repr(layer),
    )
