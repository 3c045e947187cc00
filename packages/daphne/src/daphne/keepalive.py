"""A keep-alive timeout that costs no reactor call per request.

Why
---
Twisted's ``TimeoutMixin`` (which ``HTTPChannel`` uses for the keep-alive
timeout) cancels its timer when a request arrives and schedules a new one when
the response is done: two reactor calls per request, and on the asyncio reactor
each one also re-arms an asyncio timer. ``LazyTimeoutMixin`` keeps the same
interface (``setTimeout``, ``resetTimeout``, ``timeoutConnection``) but only
records the deadline; one reactor timer per connection is kept armed at or
before the deadline and, when it fires early because the deadline moved, re-arms
for the rest. Turning the timeout off just lets that timer lapse, and
``stop_timeout`` cancels it when the connection goes away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["LazyTimeoutMixin"]


class LazyTimeoutMixin:
    """``TimeoutMixin``'s interface with O(1) set/reset; mix in before ``HTTPChannel``."""

    #: The reactor (or test clock) to time with; set by the class this is mixed into.
    timeout_clock: Any = None
    _period: float | None = None
    _deadline = 0.0
    _timer: Any = None
    _timer_at = 0.0

    def setTimeout(self, period: float | None) -> float | None:
        """Time out after ``period`` idle seconds (None: never); return the previous period."""
        previous = self._period
        self._period = period
        if period is not None:
            clock = self.timeout_clock
            now = clock.seconds()
            self._deadline = now + period
            if self._timer is not None and self._timer_at > self._deadline:
                # Armed for later than the new deadline: re-arm sooner.
                self._timer.cancel()
                self._timer = None
            if self._timer is None:
                self._timer_at = self._deadline
                self._timer = clock.callLater(period, self._check_timeout)
        return previous

    def resetTimeout(self) -> None:
        """Restart the idle period (Twisted calls this on every chunk of data received)."""
        if self._period is not None:
            self._deadline = self.timeout_clock.seconds() + self._period

    def stop_timeout(self) -> None:
        """Turn the timeout off and cancel the reactor timer (the connection is gone)."""
        self._period = None
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _check_timeout(self) -> None:
        self._timer = None
        if self._period is None:
            return
        clock = self.timeout_clock
        remaining = self._deadline - clock.seconds()
        if remaining > 0:
            self._timer_at = self._deadline
            self._timer = clock.callLater(remaining, self._check_timeout)
            return
        self._period = None
        self.timeoutConnection()

    if TYPE_CHECKING:

        def timeoutConnection(self) -> None:
            """Provided by the Twisted class this is mixed into (``HTTPChannel``)."""
