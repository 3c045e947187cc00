"""Combine the per-server statistics rows the Lua scripts return.

How this works
--------------
Each server keeps, per channel and for all channels, a counter hash for
messages and for refused sends (see ``count_in`` in :mod:`asgi_redis._scripts`):
one field per second for the current and the previous second, and a total of the
seconds before. The ``counters`` Lua function reads it as the latest second, its
count, the previous second's count and the total before the latest second. A
figure "per second" is the latest bucket plus the share of the previous bucket
that still lies within the last second. Rows from several servers (shards) are
added up; the oldest head entry gives ``messages_max_age``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["combine_statistics"]


def combine_statistics(
    rows: list[list[Any]], now_ms: int, expiry_ms: int
) -> dict[str, int | float]:
    """Return the statistics extension's dict for ``rows`` of ``[pending, head, counters]``."""
    now = now_ms / 1000
    stats: dict[str, int | float] = {
        "messages_count": 0,
        "messages_count_per_second": 0.0,
        "channel_full_count": 0,
        "channel_full_count_per_second": 0.0,
        "messages_pending": 0,
        "messages_max_age": 0,
    }
    oldest = -1
    for pending, head, fields in rows:
        stats["messages_pending"] += int(pending)
        if head >= 0 and (oldest < 0 or head < oldest):
            oldest = head
        values = [None if value is None else int(value) for value in fields]
        # Totals are kept as "seconds before the current one" plus the current count.
        stats["messages_count"] += (values[0] or 0) + (values[2] or 0)
        stats["messages_count_per_second"] += _per_second(values[1:4], now)
        stats["channel_full_count"] += (values[4] or 0) + (values[6] or 0)
        stats["channel_full_count_per_second"] += _per_second(values[5:8], now)
    if oldest >= 0:
        stats["messages_max_age"] = max(0.0, (now_ms - (oldest - expiry_ms)) / 1000)
    return stats


def _per_second(fields: list[int | None], now: float) -> float:
    second, current, previous = fields
    if second is None:
        return 0.0
    this_second = int(now)
    fraction = max(0.0, 1.0 - (now - this_second))
    if second == this_second:
        return (current or 0) + (previous or 0) * fraction
    if second == this_second - 1:
        return (current or 0) * fraction
    return 0.0
