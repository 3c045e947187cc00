"""Capacity checks: ChannelFull at capacity, shared x! capacity, groups, channel_capacity."""

from __future__ import annotations

import logging
import re
from typing import Any

from asgi_conformance.context import CheckContext
from asgi_conformance.registry import check

__all__: list[str] = []

logger = logging.getLogger(__name__)


def _fill(ctx: CheckContext, channel: str, count: int) -> None:
    for number in range(count):
        try:
            ctx.layer.send(channel, {"n": number})
        except ctx.layer.ChannelFull as exc:
            ctx.expect(False, f"send number {number + 1} of {count} to {channel!r} raised {exc!r}")


def _measure(ctx: CheckContext, layer: Any, channel: str, limit: int) -> int:
    """Return how many sends ``channel`` accepts before ChannelFull (at most ``limit``)."""
    for number in range(limit):
        try:
            layer.send(channel, {"n": number})
        except layer.ChannelFull:
            return number
    return limit


@check("capacity.channel")
def channel(ctx: CheckContext) -> None:
    """A channel takes `capacity` messages, then send raises ChannelFull until one is read."""
    capacity = ctx.require_capacity()
    name = ctx.name()
    _fill(ctx, name, capacity)
    ctx.expect_raises(
        ctx.layer.ChannelFull, f"send number {capacity + 1}", ctx.layer.send, name, {"n": -1}
    )
    ctx.receive_one([name])
    ctx.layer.send(name, {"n": capacity})
    got = ctx.drain([name])
    ctx.expect_equal(len(got), capacity, "messages left after one read and one more send")
    ctx.expect(
        all(message["n"] != -1 for _channel, message in got),
        "the message refused with ChannelFull was delivered anyway",
    )


@check("capacity.process_specific")
def process_specific(ctx: CheckContext) -> None:
    """All x!y channels share the capacity of x!; another prefix is unaffected."""
    capacity = ctx.require_capacity(2)
    prefix = ctx.name("proc") + "!"
    for number in range(capacity):
        ctx.layer.send(f"{prefix}{number}", {"n": number})
    ctx.expect_raises(
        ctx.layer.ChannelFull,
        f"send to a new x!y channel with {capacity} messages queued on {prefix!r}",
        ctx.layer.send,
        prefix + "final",
        {"n": -1},
    )
    other = ctx.name("proc") + "!0"
    ctx.layer.send(other, {"n": 0})


@check("capacity.group_send")
def group_send(ctx: CheckContext) -> None:
    """send_group never raises ChannelFull; it drops the message for full members only."""
    capacity = ctx.require_capacity()
    ctx.require_extension("groups")
    group, full, empty = ctx.name("group"), ctx.name("full"), ctx.name("empty")
    ctx.layer.group_add(group, full)
    ctx.layer.group_add(group, empty)
    _fill(ctx, full, capacity)
    for number in range(3):
        ctx.layer.send_group(group, {"group": number})
    got = ctx.drain([empty])
    ctx.expect_equal(
        [message for _channel, message in got],
        [{"group": 0}, {"group": 1}, {"group": 2}],
        "group messages on the member with room",
    )
    on_full = ctx.drain([full])
    ctx.expect_equal(len(on_full), capacity, "messages on the full member (extras dropped)")


@check("capacity.group_send_overflow")
def group_send_overflow(ctx: CheckContext) -> None:
    """Sending capacity + 1 group messages to one member never raises ChannelFull."""
    capacity = ctx.require_capacity()
    ctx.require_extension("groups")
    group, member = ctx.name("group"), ctx.name()
    ctx.layer.group_add(group, member)
    for number in range(capacity + 1):
        ctx.layer.send_group(group, {"n": number})
    count = len(ctx.drain([member]))
    ctx.expect(
        1 <= count <= capacity,
        f"the member received {count} messages; expected between 1 and capacity {capacity}",
    )


@check("capacity.expired_free_space")
def expired_free_space(ctx: CheckContext) -> None:
    """Expired messages do not count against capacity."""
    capacity = ctx.require_capacity()
    expiry = ctx.require_time("expiry")
    name = ctx.name()
    _fill(ctx, name, capacity)
    ctx.advance(expiry)
    ctx.layer.send(name, {"n": "after expiry"})
    _channel, got = ctx.receive_one([name])
    ctx.expect_equal(got, {"n": "after expiry"}, "the only message left after expiry")


@check("capacity.channel_capacity")
def channel_capacity(ctx: CheckContext) -> None:
    """channel_capacity takes globs and regexes, first match wins, x!y uses x!'s entry."""
    configure = ctx.profile.configure
    if configure is None:
        ctx.skip("the profile cannot build a layer with channel_capacity (no configure)")
    base = ctx.name("cc")
    default = max(ctx.profile.capacity or 0, 8)
    patterns: dict[Any, int] = {
        f"{base}.glob*": 2,
        re.compile(re.escape(base) + r"\.re.*"): 3,
        f"{base}.re.glob*": 5,
        f"{base}.proc!": 4,
        f"{base}.*": 6,
    }
    layer = configure({"channel_capacity": patterns, "capacity": default})
    try:
        flush = getattr(layer, "flush", None)
        if callable(flush):
            flush()
        expected = {
            f"{base}.glob.a": 2,
            f"{base}.re.glob.a": 3,
            f"{base}.other": 6,
            f"{ctx.name('unmatched')}": default,
        }
        for name, capacity in expected.items():
            accepted = _measure(ctx, layer, name, default + 1)
            ctx.expect_equal(accepted, capacity, f"messages {name!r} accepts")
        accepted = 0
        for number in range(default + 1):
            try:
                layer.send(f"{base}.proc!local{number}", {"n": number})
            except layer.ChannelFull:
                break
            accepted += 1
        ctx.expect_equal(accepted, 4, f"messages the x!y channels of {base}.proc! accept")
    finally:
        close = getattr(layer, "close", None)
        if callable(close):
            close()
