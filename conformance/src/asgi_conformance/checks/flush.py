"""Flush checks: flush() empties every channel and forgets every group."""

from __future__ import annotations

import logging

from asgi_conformance.context import CheckContext
from asgi_conformance.registry import check

__all__: list[str] = []

logger = logging.getLogger(__name__)


@check("flush.messages")
def messages(ctx: CheckContext) -> None:
    """flush() drops queued messages on normal and process-specific channels."""
    ctx.require_extension("flush")
    plain, local = ctx.name(), ctx.name("proc") + "!local"
    prefix = local[: local.index("!") + 1]
    ctx.layer.send(plain, {"value": "blue"})
    ctx.layer.send(local, {"value": "green"})
    ctx.layer.flush()
    ctx.assert_empty([plain, prefix], "flush() ran after the sends")
    ctx.layer.send(plain, {"value": "after"})
    _channel, message = ctx.receive_one([plain], "a message sent after flush()")
    ctx.expect_equal(message, {"value": "after"}, "message sent after flush()")


@check("flush.groups")
def groups(ctx: CheckContext) -> None:
    """flush() forgets group memberships."""
    ctx.require_extension("flush", "groups")
    group, member = ctx.name("group"), ctx.name()
    ctx.layer.group_add(group, member)
    ctx.layer.flush()
    ctx.layer.send_group(group, {"value": "blue"})
    ctx.assert_empty([member], "the group was flushed before send_group")
    group_channels = getattr(ctx.layer, "group_channels", None)
    if callable(group_channels):
        ctx.expect_equal(list(group_channels(group)), [], "group_channels after flush()")


@check("flush.capacity_freed")
def capacity_freed(ctx: CheckContext) -> None:
    """After flush() a channel that was full accepts messages again."""
    ctx.require_extension("flush")
    capacity = ctx.require_capacity()
    name = ctx.name()
    for number in range(capacity):
        ctx.layer.send(name, {"n": number})
    ctx.layer.flush()
    ctx.layer.send(name, {"n": "after"})
    got = ctx.drain([name])
    ctx.expect_equal([message for _c, message in got], [{"n": "after"}], "messages after flush")
