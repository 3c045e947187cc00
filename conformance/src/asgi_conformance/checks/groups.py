"""Group checks: add, discard, send_group, process-specific members, group_channels."""

from __future__ import annotations

import logging
from typing import Any

from asgi_conformance.context import CheckContext
from asgi_conformance.registry import check

__all__: list[str] = []

logger = logging.getLogger(__name__)


@check("groups.send")
def send(ctx: CheckContext) -> None:
    """send_group reaches every member once; a discarded member gets nothing more."""
    ctx.require_extension("groups")
    group, first, second, outsider = ctx.name("group"), ctx.name(), ctx.name(), ctx.name()
    ctx.layer.group_add(group, first)
    ctx.layer.group_add(group, second)
    ctx.layer.send_group(group, {"value": "orange"})
    for member in (first, second):
        channel, message = ctx.receive_one([member], f"the group message on {member}")
        ctx.expect_equal((channel, message), (member, {"value": "orange"}), "group message")
        ctx.assert_empty([member], "each member gets one copy")
    ctx.assert_empty([outsider], "a channel outside the group gets nothing")
    ctx.layer.group_discard(group, second)
    ctx.layer.send_group(group, {"value": "red"})
    _channel, message = ctx.receive_one([first], "the second group message")
    ctx.expect_equal(message, {"value": "red"}, "second group message on the remaining member")
    ctx.assert_empty([second], "the member was discarded before the second send")


@check("groups.add_twice")
def add_twice(ctx: CheckContext) -> None:
    """Adding a channel to a group twice still delivers one copy per send_group."""
    ctx.require_extension("groups")
    group, member = ctx.name("group"), ctx.name()
    ctx.layer.group_add(group, member)
    ctx.layer.group_add(group, member)
    ctx.layer.send_group(group, {"n": 1})
    got = ctx.drain([member])
    ctx.expect_equal(len(got), 1, "copies received by a member added twice")


@check("groups.discard_unknown")
def discard_unknown(ctx: CheckContext) -> None:
    """Discarding a non-member, or from an unknown group, is silently allowed."""
    ctx.require_extension("groups")
    group, member, other = ctx.name("group"), ctx.name(), ctx.name()
    ctx.layer.group_discard(ctx.name("nogroup"), member)
    ctx.layer.group_add(group, member)
    ctx.layer.group_discard(group, other)
    ctx.layer.send_group(group, {"n": 1})
    _channel, message = ctx.receive_one([member], "the group message")
    ctx.expect_equal(message, {"n": 1}, "group message after discarding a non-member")


@check("groups.send_empty")
def send_empty(ctx: CheckContext) -> None:
    """send_group to a group with no members does nothing and does not raise."""
    ctx.require_extension("groups")
    ctx.layer.send_group(ctx.name("group"), {"n": 1})


@check("groups.process_specific_members")
def process_specific_members(ctx: CheckContext) -> None:
    """x!a and x!b in a group each get the group message, received through x!."""
    ctx.require_extension("groups")
    group, prefix = ctx.name("group"), ctx.name("proc") + "!"
    members = {prefix + "alpha", prefix + "beta"}
    for member in sorted(members):
        ctx.layer.group_add(group, member)
    ctx.layer.send_group(group, {"value": "blue"})
    got = ctx.drain([prefix])
    ctx.expect_equal(
        sorted(channel for channel, _message in got), sorted(members), "channels received on x!"
    )
    for _channel, message in got:
        ctx.expect_equal(message, {"value": "blue"}, "group message on a process-specific member")


@check("groups.channels")
def channels(ctx: CheckContext) -> None:
    """group_channels lists current members (x!y included) and [] for an unknown group."""
    ctx.require_extension("groups")
    group_channels = getattr(ctx.layer, "group_channels", None)
    ctx.expect(callable(group_channels), "a layer with 'groups' must provide group_channels")
    group = ctx.name("group")
    members = [ctx.name(), ctx.name(), ctx.name("proc") + "!local"]
    for member in members:
        ctx.layer.group_add(group, member)
    listed = ctx.layer.group_channels(group)
    ctx.expect(isinstance(listed, list | tuple | set), f"group_channels returned {listed!r}")
    ctx.expect_equal(sorted(listed), sorted(members), "group_channels after three adds")
    ctx.layer.group_discard(group, members[0])
    ctx.expect_equal(
        sorted(ctx.layer.group_channels(group)), sorted(members[1:]), "after a discard"
    )
    ctx.expect_equal(list(ctx.layer.group_channels(ctx.name("nogroup"))), [], "unknown group")


@check("groups.message_isolation")
def message_isolation(ctx: CheckContext) -> None:
    """Members of a group get independent copies: mutating one does not change another."""
    ctx.require_extension("groups")
    group, first, second = ctx.name("group"), ctx.name(), ctx.name()
    ctx.layer.group_add(group, first)
    ctx.layer.group_add(group, second)
    message: dict[str, Any] = {"value": [1, 2, 3], "nested": {"key": "data"}}
    ctx.layer.send_group(group, message)
    message["value"].append("after send")
    _channel, got_first = ctx.receive_one([first])
    got_first["value"][0] = "changed"
    got_first["nested"]["key"] = "changed"
    _channel, got_second = ctx.receive_one([second])
    ctx.expect_equal(
        got_second,
        {"value": [1, 2, 3], "nested": {"key": "data"}},
        "second member's copy after the first member's copy and the original were mutated",
    )
