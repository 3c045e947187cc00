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

The buffer is asgiref's shared :class:`asgiref.prefetch.PrefetchBuffer`.
Entries are stored raw (``<expiry><channel>\\0<payload>``) and decoded when
handed out; one that expired while buffered is dropped then, as Redis would
have dropped it. Normal and ``?`` channels are never prefetched: other
processes compete for them. ``flush()`` empties the buffer.
"""

from __future__ import annotations

from asgiref.prefetch import PrefetchBuffer as SharedPrefetchBuffer

__all__ = ["PREFETCH", "PrefetchBuffer", "prefetchable"]

#: Most entries one receive pops from a process-specific queue.
PREFETCH = 64


def prefetchable(names: list[str]) -> bool:
    """Return True if a receive on ``names`` may fetch ahead (one ``x!`` prefix)."""
    return len(names) == 1 and names[0][-1] == "!"


def _entry_live(entry: bytes, now_ms: int) -> bool:
    # An entry starts with its expiry in ms as 13 ASCII digits (see _scripts).
    return int(entry[:13]) > now_ms


class PrefetchBuffer(SharedPrefetchBuffer[bytes]):
    """Raw entries popped ahead, per process-specific queue, oldest first."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(_entry_live)
