"""Hand out messages fetched ahead from a process-specific queue, one at a time.

How this works
--------------
A process-specific prefix (``x!``) has exactly one reader: the process that
made it up. So when ``receive_async`` waits on exactly one such prefix, the
layer pops up to :data:`PREFETCH` live entries in the same round trip
(the ``RECEIVE_MANY`` script), returns the first and keeps the rest here,
oldest first. Every later receive, blocking or not, sync or async, whose names
include a buffered prefix takes from here before asking Redis, so the order of
a prefix's messages is kept and a burst of replies costs one round trip
instead of one per message.

Entries are stored raw (``<expiry><channel>\\0<payload>``) and decoded when
handed out; one that expired while buffered is dropped then, as Redis would
have dropped it. Normal and ``?`` channels are never prefetched: other
processes compete for them. ``flush()`` empties the buffer.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable

__all__ = ["PREFETCH", "PrefetchBuffer", "prefetchable"]

logger = logging.getLogger(__name__)

#: Most entries one receive pops from a process-specific queue.
PREFETCH = 64


def prefetchable(names: list[str]) -> bool:
    """Return True if a receive on ``names`` may fetch ahead (one ``x!`` prefix)."""
    return len(names) == 1 and names[0][-1] == "!"


class PrefetchBuffer:
    """Raw entries popped ahead, per process-specific queue, oldest first."""

    __slots__ = ("_lock", "_queues")

    def __init__(self) -> None:
        self._queues: dict[str, deque[bytes]] = {}
        # Receives may run in several threads (and event loops) of one process.
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._queues)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(entries) for entries in self._queues.values())

    def add(self, queue: str, entries: Iterable[bytes]) -> None:
        """Keep ``entries`` (oldest first) after any already buffered for ``queue``."""
        with self._lock:
            buffered = self._queues.get(queue)
            if buffered is None:
                buffered = self._queues[queue] = deque()
            buffered.extend(entries)

    def take(self, names: Iterable[str], now_ms: int) -> bytes | None:
        """Return the oldest live buffered entry of the first of ``names`` that has one."""
        queues = self._queues
        with self._lock:
            for name in names:
                buffered = queues.get(name)
                while buffered:
                    entry = buffered.popleft()
                    if not buffered:
                        del queues[name]
                    if int(entry[:13]) > now_ms:
                        return entry
                    logger.debug("Dropped a prefetched message on %s: it expired", name)
        return None

    def clear(self) -> None:
        """Forget every buffered entry."""
        with self._lock:
            self._queues.clear()
