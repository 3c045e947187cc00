"""Run many same-length timeouts off one reactor timer.

How this works
--------------
Every HTTP request arms a timeout of the same length (``http_timeout``), so
deadlines are added in increasing order: a FIFO queue holds them, and a single
reactor timer is set for the deadline at its head. Cancelling only marks an
entry dead (it is skipped when it reaches the head), so adding and cancelling
cost O(1) and never touch the reactor's timer heap, which on the asyncio reactor
means re-arming an asyncio timer on every call. Cancelled entries drop their
callback at once and are shed from the head as new ones arrive.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Clock", "Deadline", "DeadlineQueue", "DelayedCall"]

#: An IReactorTime provider (the reactor, or task.Clock in tests) and what its
#: callLater returns. Typed loosely: zope interfaces need the mypy-zope plugin.
Clock = Any
DelayedCall = Any


class Deadline:
    """One pending timeout; ``cancel()`` stops it from firing."""

    __slots__ = ("callback", "live", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback: Callable[[], None] | None = callback
        self.live = True

    def active(self) -> bool:
        """Return True until the timeout fired or was cancelled."""
        return self.live

    def cancel(self) -> None:
        """Stop the timeout from firing (idempotent) and drop the callback's references."""
        self.live = False
        self.callback = None


class DeadlineQueue:
    """Timeouts that all last ``delay`` seconds, served by one reactor timer."""

    def __init__(self, clock: Clock, delay: float) -> None:
        self.clock = clock
        self.delay = delay
        self.entries: deque[Deadline] = deque()
        self.timer: DelayedCall | None = None

    def add(self, callback: Callable[[], None]) -> Deadline:
        """Call ``callback`` after ``delay`` seconds unless the result is cancelled."""
        entry = Deadline(self.clock.seconds() + self.delay, callback)
        entries = self.entries
        # Requests mostly finish in arrival order: shed the dead head as we go, so
        # the queue stays about as long as the number of requests in flight.
        while entries and not entries[0].live:
            entries.popleft()
        entries.append(entry)
        if self.timer is None:
            self.timer = self.clock.callLater(self.delay, self._fire)
        return entry

    def _fire(self) -> None:
        self.timer = None
        now = self.clock.seconds()
        entries = self.entries
        while entries and (entries[0].when <= now or not entries[0].live):
            entry = entries.popleft()
            callback = entry.callback
            if entry.live and callback is not None:
                entry.cancel()
                callback()
        if entries and self.timer is None:
            self.timer = self.clock.callLater(max(0.0, entries[0].when - now), self._fire)

    def stop(self) -> None:
        """Cancel the reactor timer (pending entries never fire)."""
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None
        self.entries.clear()
