"""Counters behind the ``statistics`` extension of channel layers.

How this works
--------------
The spec asks for totals since start (``messages_count``,
``channel_full_count``) and figures "in the last second". Keeping a timestamp
per event would cost memory and time on the hot path, so :class:`RateCounter`
keeps two one-second buckets: the current second and the one before. The
per-second figure is the current bucket plus the part of the previous bucket
that still falls inside the trailing one-second window, which is exact for a
steady rate and never off by more than one bucket for a bursty one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

__all__ = ["ChannelCounters", "CounterTable", "RateCounter"]


class RateCounter:
    """Count events: a running total plus an estimate of events in the last second."""

    __slots__ = ("_current", "_previous", "_second", "total")

    def __init__(self) -> None:
        self.total = 0
        self._second = 0
        self._current = 0
        self._previous = 0

    def add(self, now: float, amount: int = 1) -> None:
        """Record ``amount`` events at time ``now``."""
        self.total += amount
        self._roll(now)
        self._current += amount

    def per_second(self, now: float) -> float:
        """Return the estimated number of events in the second before ``now``."""
        self._roll(now)
        elapsed_in_second = now - self._second
        return self._current + self._previous * max(0.0, 1.0 - elapsed_in_second)

    def _roll(self, now: float) -> None:
        second = int(now)
        if second == self._second:
            return
        self._previous = self._current if second == self._second + 1 else 0
        self._current = 0
        self._second = second


class ChannelCounters:
    """The message and channel-full counters of one channel (or of a whole layer)."""

    __slots__ = ("full", "messages")

    def __init__(self) -> None:
        self.messages = RateCounter()
        self.full = RateCounter()

    def as_dict(self, now: float) -> dict[str, int | float]:
        """Return the spec's counter keys for these counters."""
        return {
            "messages_count": self.messages.total,
            "messages_count_per_second": self.messages.per_second(now),
            "channel_full_count": self.full.total,
            "channel_full_count_per_second": self.full.per_second(now),
        }


class CounterTable:
    """Per-channel counters, bounded so that random reply channels cannot grow it forever.

    The least recently used channels are forgotten first once ``max_channels``
    is reached; the global counters always keep every event.
    """

    def __init__(self, time_fn: Callable[[], float], max_channels: int = 10_000) -> None:
        self.time_fn = time_fn
        self.max_channels = max_channels
        self.total = ChannelCounters()
        self._channels: OrderedDict[str, ChannelCounters] = OrderedDict()

    def _for(self, channel: str) -> ChannelCounters:
        counters = self._channels.get(channel)
        if counters is None:
            counters = self._channels[channel] = ChannelCounters()
            if len(self._channels) > self.max_channels:
                self._channels.popitem(last=False)
        else:
            self._channels.move_to_end(channel)
        return counters

    def message(self, channel: str, amount: int = 1) -> None:
        """Record ``amount`` messages accepted onto ``channel``."""
        now = self.time_fn()
        self.total.messages.add(now, amount)
        self._for(channel).messages.add(now, amount)

    def channel_full(self, channel: str) -> None:
        """Record one ChannelFull raised (or silently absorbed) for ``channel``."""
        now = self.time_fn()
        self.total.full.add(now)
        self._for(channel).full.add(now)

    def channel_dict(self, channel: str) -> dict[str, int | float]:
        """Return the counter keys for ``channel`` (zeros if it was never used)."""
        counters = self._channels.get(channel) or ChannelCounters()
        return counters.as_dict(self.time_fn())

    def global_dict(self) -> dict[str, int | float]:
        """Return the counter keys across all channels."""
        return self.total.as_dict(self.time_fn())

    def clear(self) -> None:
        """Forget every counter."""
        self.total = ChannelCounters()
        self._channels.clear()
