"""Statistics checks: the spec's keys, exact counts, rates and message age.

Global figures are compared with ``>=`` because a layer on a shared server may
see other clients' traffic; per-channel figures use this run's fresh names and
must be exact.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from asgi_conformance.context import CheckContext
from asgi_conformance.registry import check

__all__: list[str] = []

logger = logging.getLogger(__name__)

KEYS = (
    "messages_count",
    "messages_count_per_second",
    "messages_pending",
    "messages_max_age",
    "channel_full_count",
    "channel_full_count_per_second",
)
_RECENT = 0.5


def _equal(ctx: CheckContext, got: object, expected: float, what: str) -> None:
    ctx.expect_equal(got, expected, what, exact_type=False)


def _stats(ctx: CheckContext, channel: str | None = None) -> dict[str, Any]:
    if channel is None:
        stats = ctx.layer.global_statistics()
        what = "global_statistics()"
    else:
        stats = ctx.layer.channel_statistics(channel)
        what = f"channel_statistics({channel!r})"
    ctx.expect(isinstance(stats, dict), f"{what} returned {stats!r}, not a dict")
    missing = [key for key in KEYS if key not in stats]
    ctx.expect(not missing, f"{what} lacks the keys {missing}; it returned {stats!r}")
    for key in KEYS:
        value = stats[key]
        ctx.expect(
            isinstance(value, int | float) and not isinstance(value, bool) and value >= 0,
            f"{what}[{key!r}] is {value!r}; expected a number >= 0",
        )
    return dict(stats)


@check("statistics.keys")
def keys(ctx: CheckContext) -> None:
    """global_statistics() and channel_statistics() return every spec key as a number."""
    ctx.require_extension("statistics")
    _stats(ctx)
    unused = _stats(ctx, ctx.name())
    for key in ("messages_count", "messages_pending", "channel_full_count"):
        _equal(ctx, unused[key], 0, f"{key} of a channel never used")


@check("statistics.counts")
def counts(ctx: CheckContext) -> None:
    """messages_count, messages_pending and channel_full_count count exactly."""
    ctx.require_extension("statistics")
    capacity = ctx.require_capacity(4)
    channel = ctx.name()
    for number in range(3):
        ctx.layer.send(channel, {"n": number})
    stats = _stats(ctx, channel)
    _equal(ctx, stats["messages_count"], 3, "messages_count after 3 sends")
    _equal(ctx, stats["messages_pending"], 3, "messages_pending after 3 sends")
    ctx.receive_one([channel])
    stats = _stats(ctx, channel)
    _equal(ctx, stats["messages_count"], 3, "messages_count after a receive")
    _equal(ctx, stats["messages_pending"], 2, "messages_pending after a receive")
    for number in range(capacity - 2):
        ctx.layer.send(channel, {"n": number})
    ctx.expect_raises(ctx.layer.ChannelFull, "send to a full channel", ctx.layer.send, channel, {})
    stats = _stats(ctx, channel)
    _equal(ctx, stats["channel_full_count"], 1, "channel_full_count after one ChannelFull")
    _equal(ctx, stats["messages_count"], capacity + 1, "messages_count (refused not counted)")
    totals = _stats(ctx)
    ctx.expect(
        totals["messages_count"] >= capacity + 1 and totals["messages_pending"] >= capacity,
        f"global_statistics() counts fewer messages than one channel holds: {totals}",
    )
    ctx.expect(totals["channel_full_count"] >= 1, f"global channel_full_count: {totals}")


@check("statistics.process_specific")
def process_specific(ctx: CheckContext) -> None:
    """Statistics of x!y channels are kept (and reported) for their x! prefix."""
    ctx.require_extension("statistics")
    prefix = ctx.name("proc") + "!"
    ctx.layer.send(prefix + "alpha", {"n": 1})
    ctx.layer.send(prefix + "beta", {"n": 2})
    for name in (prefix, prefix + "alpha"):
        stats = _stats(ctx, name)
        _equal(ctx, stats["messages_count"], 2, f"messages_count of {name!r}")
        _equal(ctx, stats["messages_pending"], 2, f"messages_pending of {name!r}")


@check("statistics.rates")
def rates(ctx: CheckContext) -> None:
    """The *_per_second figures count recent messages and ChannelFull errors."""
    ctx.require_extension("statistics")
    capacity = ctx.require_capacity()
    channel = ctx.name()
    for number in range(capacity):
        ctx.layer.send(channel, {"n": number})
    ctx.expect_raises(ctx.layer.ChannelFull, "send to a full channel", ctx.layer.send, channel, {})
    sent_at = time.monotonic()
    stats = _stats(ctx, channel)
    totals = _stats(ctx)
    if ctx.profile.clock is None and time.monotonic() - sent_at > _RECENT:
        ctx.skip("the machine is too slow to read the rates within half a second of the sends")
    for figures, what in ((stats, "channel"), (totals, "global")):
        ctx.expect(
            figures["messages_count_per_second"] > 0,
            f"{what} messages_count_per_second is 0 right after {capacity} sends: {figures}",
        )
        ctx.expect(
            figures["channel_full_count_per_second"] > 0,
            f"{what} channel_full_count_per_second is 0 right after a ChannelFull: {figures}",
        )
    ctx.expect(
        stats["messages_count_per_second"] <= capacity,
        f"messages_count_per_second exceeds the {capacity} messages sent: {stats}",
    )
    if ctx.profile.clock is not None:
        ctx.profile.clock.advance(3.0)
        later = _stats(ctx, channel)
        _equal(ctx, later["messages_count_per_second"], 0, "messages_count_per_second 3 s later")


@check("statistics.max_age")
def max_age(ctx: CheckContext) -> None:
    """messages_max_age is the age of the oldest pending message, 0 when none is pending."""
    ctx.require_extension("statistics")
    channel = ctx.name()
    ctx.layer.send(channel, {"n": 1})
    started = time.monotonic()
    expiry = ctx.profile.expiry or 60.0
    if ctx.profile.clock is not None:
        elapsed = expiry / 2
        ctx.profile.clock.advance(elapsed)
        low = elapsed - 1.0
    else:
        time.sleep(min(0.3, expiry / 4))
        low = -1.0
    stats = _stats(ctx, channel)
    high = (expiry / 2 if ctx.profile.clock is not None else time.monotonic() - started) + 1.0
    ctx.expect(
        low <= stats["messages_max_age"] <= high,
        f"messages_max_age is {stats['messages_max_age']}; expected between {max(low, 0)} "
        f"and {high:.2f} s",
    )
    ctx.receive_one([channel])
    _equal(ctx, _stats(ctx, channel)["messages_max_age"], 0, "max age with nothing pending")
