"""Statistics counters kept in shared memory, for the ``statistics`` extension.

How this works
--------------
Each channel entry, and the header for the whole prefix, holds two counters:
messages accepted and ``ChannelFull`` refusals. A counter is
``total, second, current, previous``: a running total plus two one-second
buckets, the current second and the one before it. The per-second figure is
the current bucket plus the share of the previous bucket that still falls in
the trailing second (exact for a steady rate). Counters are written without
the undo journal: after a crash they may be off by one, never inconsistent.
"""

from __future__ import annotations

import logging
import mmap
import struct

__all__ = ["RATE_SIZE", "count", "counters_at", "zero_counters"]

logger = logging.getLogger(__name__)

_RATE = struct.Struct("<QIII")
RATE_SIZE = _RATE.size


def count(mm: mmap.mmap, at: int, now_second: int, amount: int) -> None:
    """Add ``amount`` events in second ``now_second`` to the counter at ``at``."""
    total, second, current, previous = _RATE.unpack_from(mm, at)
    if second != now_second:
        previous = current if now_second == second + 1 else 0
        current = 0
    _RATE.pack_into(mm, at, total + amount, now_second, current + amount, previous)


def _rate(mm: mmap.mmap, at: int, now: float) -> tuple[int, float]:
    total, second, current, previous = _RATE.unpack_from(mm, at)
    now_second = int(now)
    if now_second != second:
        previous = current if now_second == second + 1 else 0
        current = 0
    return total, current + previous * max(0.0, 1.0 - (now - now_second))


def counters_at(mm: mmap.mmap, at: int, now: float) -> dict[str, int | float]:
    """Return the spec's counter keys for the counter pair at ``at``."""
    messages, messages_rate = _rate(mm, at, now)
    full, full_rate = _rate(mm, at + RATE_SIZE, now)
    return {
        "messages_count": messages,
        "messages_count_per_second": messages_rate,
        "channel_full_count": full,
        "channel_full_count_per_second": full_rate,
    }


def zero_counters() -> dict[str, int | float]:
    """Return the counter keys of a channel that never saw a message."""
    return {
        "messages_count": 0,
        "messages_count_per_second": 0.0,
        "channel_full_count": 0,
        "channel_full_count_per_second": 0.0,
    }
