"""A worker thread's kept sends, and the watcher that sends them if they wait too long.

How this works
--------------
In the worker loop a consumer's channel sends are kept (see
:mod:`channels.message`) and go out with the worker's next receive, one round
trip for both. When that receive can be answered from messages the layer
already took (``receive_prefetched``), the kept sends stay kept and the next
consumer's sends join them, so a batch of messages costs one round trip in all.

That must not hold a reply hostage to a slow consumer. Each worker thread's kept
sends live in a :class:`KeptSends` slot guarded by a lock, and a
:class:`KeptSendsWatcher` thread wakes every ``max_hold / 2`` seconds while
anything is kept and sends whatever has waited ``max_hold`` or longer (so a send
waits at most about 1.5 x ``max_hold``). It sends
while holding the slot's lock, so the worker thread, which takes the slot under
the same lock before its next receive, cannot overtake it: sends to one channel
stay in order. The watcher parks (no wake-ups at all) once nothing has been kept
for :data:`IDLE_CHECKS_BEFORE_PARKING` checks in a row: under steady load it keeps
polling, since waking a parked thread for every batch would cost more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_HOLD", "KeptSends", "KeptSendsWatcher"]

logger = logging.getLogger(__name__)

#: Longest a kept send waits for other consumers of a batch before a watcher sends it.
MAX_HOLD = 0.01

#: Checks that found nothing kept before the watcher parks: under steady load it keeps
#: polling instead, since waking a parked thread for every batch costs more than a poll.
IDLE_CHECKS_BEFORE_PARKING = 20

#: ``(Channel, message)`` pairs, as the pending message store sends them.
Kept = list[tuple[Any, dict[str, Any]]]


class KeptSends:
    """One thread's channel sends kept for its next receive, oldest first."""

    __slots__ = ("lock", "messages", "since")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: Kept | None = None
        self.since = 0.0

    def take(self) -> Kept:
        """Return (and forget) what is kept; waits while a watcher is sending it."""
        with self.lock:
            messages, self.messages = self.messages, None
        return messages or []

    def keep(self, messages: Kept) -> None:
        """Keep ``messages`` (after anything already kept); the clock runs from the oldest."""
        if not messages:
            return
        with self.lock:
            if self.messages:
                self.messages.extend(messages)
            else:
                self.messages = list(messages)
                self.since = time.monotonic()

    def layer(self) -> Any:
        """Return the layer of the kept sends, or None if nothing is kept."""
        messages = self.messages
        return messages[0][0].channel_layer if messages else None

    def send_overdue(self, max_hold: float, send: Callable[[Kept], None]) -> bool:
        """Send what has waited ``max_hold`` or longer; return True if anything is still kept."""
        with self.lock:
            if self.messages is None:
                return False
            if time.monotonic() - self.since < max_hold:
                return True
            messages, self.messages = self.messages, None
            try:
                send(messages)
            except Exception:
                logger.exception("Could not send %d kept messages; dropping them", len(messages))
            return False


class KeptSendsWatcher:
    """A daemon thread that sends a worker thread's kept sends once they wait too long."""

    def __init__(
        self, slot: KeptSends, send: Callable[[Kept], None], max_hold: float = MAX_HOLD
    ) -> None:
        self.slot = slot
        self.max_hold = max_hold
        self._send = send
        self._busy = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="channels-kept-sends", daemon=True)
        self._thread.start()

    def kept(self) -> None:
        """Tell the watcher that the slot holds sends (cheap when it is already awake)."""
        if not self._busy.is_set():
            self._busy.set()

    def stop(self) -> None:
        """End the thread; what is still kept is the worker's to send."""
        self._stopped = True
        self._busy.set()
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        idle_checks = 0
        while True:
            self._busy.wait()
            if self._stopped:
                return
            time.sleep(self.max_hold / 2)
            if self._stopped:
                return
            if self.slot.send_overdue(self.max_hold, self._send):
                idle_checks = 0
                continue
            idle_checks += 1
            if idle_checks < IDLE_CHECKS_BEFORE_PARKING:
                continue
            with self.slot.lock:
                # Under the lock: keep() then kept() cannot slip in between.
                if self.slot.messages is None:
                    self._busy.clear()
                    idle_checks = 0
