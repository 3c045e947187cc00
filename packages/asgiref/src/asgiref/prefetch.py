"""Messages a layer fetched ahead from a process-specific queue, handed out one at a time.

How this works
--------------
A process-specific prefix (``x!``) has exactly one reader: the process that
made it up. A layer may therefore take several of its messages from the server
in one round trip, return the first and keep the rest here, oldest first.
Every later receive whose names include a buffered prefix takes from here
before asking the server, so a prefix's order is kept and a burst of replies
costs one round trip instead of one per message.

Entries are stored as the layer got them (raw bytes, a tuple ...) and decoded
when handed out. The layer says how to tell a live entry from one that expired
while it waited (``is_live(entry, now_ms)``); expired ones are dropped, as the
server would have dropped them. Normal and ``?`` channels must never be
fetched ahead: other processes compete for them.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

__all__ = ["PrefetchBuffer"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class PrefetchBuffer(Generic[T]):
    """Entries fetched ahead, per process-specific queue, oldest first; thread-safe."""

    __slots__ = ("_is_live", "_lock", "_queues")

    def __init__(self, is_live: Callable[[T, int], bool]) -> None:
        self._is_live = is_live
        self._queues: dict[str, deque[T]] = {}
        # Receives may run in several threads (and event loops) of one process.
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._queues)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(entries) for entries in self._queues.values())

    def count(self, queue: str) -> int:
        """Return how many entries wait for ``queue``."""
        with self._lock:
            return len(self._queues.get(queue, ()))

    def add(self, queue: str, entries: Iterable[T]) -> None:
        """Keep ``entries`` (oldest first) after any already buffered for ``queue``."""
        with self._lock:
            buffered = self._queues.get(queue)
            if buffered is None:
                buffered = self._queues[queue] = deque()
            buffered.extend(entries)
            if not buffered:
                del self._queues[queue]

    def take(self, names: Iterable[str], now_ms: int) -> T | None:
        """Return the oldest live entry of the first of ``names`` that has one."""
        queues = self._queues
        if not queues:
            return None
        with self._lock:
            for name in names:
                buffered = queues.get(name)
                while buffered:
                    entry = buffered.popleft()
                    if not buffered:
                        del queues[name]
                    if self._is_live(entry, now_ms):
                        return entry
                    logger.debug("Dropped a prefetched message on %s: it expired", name)
        return None

    def clear(self) -> None:
        """Forget every buffered entry."""
        with self._lock:
            self._queues.clear()
