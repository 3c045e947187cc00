"""Time checks: message expiry, eviction of expired members, group membership expiry.

They move the profile's clock when it has one, and otherwise sleep slightly
longer than the configured expiry (cross-process layers keep time in their
servers), skipping when that would take longer than the profile's max_sleep.
"""

from __future__ import annotations

import logging

from asgi_conformance.context import CheckContext
from asgi_conformance.registry import check

__all__: list[str] = []

logger = logging.getLogger(__name__)


def _members(ctx: CheckContext, group: str) -> set[str] | None:
    group_channels = getattr(ctx.layer, "group_channels", None)
    if not callable(group_channels):
        return None
    return set(group_channels(group))


@check("expiry.message")
def message(ctx: CheckContext) -> None:
    """A message not received within the expiry is gone."""
    expiry = ctx.require_time("expiry")
    channel, other = ctx.name(), ctx.name("proc") + "!local"
    ctx.layer.send(channel, {"value": "blue"})
    ctx.layer.send(other, {"value": "green"})
    ctx.advance(expiry)
    ctx.assert_empty([channel], f"the message should have expired after {expiry} s")
    ctx.assert_empty([other[: other.index("!") + 1]], "the x!y message should have expired")
    ctx.layer.send(channel, {"value": "fresh"})
    _channel, got = ctx.receive_one([channel], "a message sent after the expiry")
    ctx.expect_equal(got, {"value": "fresh"}, "message sent after the old one expired")


@check("expiry.member_dropped")
def member_dropped(ctx: CheckContext) -> None:
    """A group member whose message expired unread is dropped from its groups."""
    ctx.require_extension("groups")
    expiry = ctx.require_time("expiry")
    group, other_group = ctx.name("group"), ctx.name("group")
    stale, stale_local = ctx.name("stale"), ctx.name("proc") + "!stale"
    reader = ctx.name("reader")
    for member in (stale, stale_local, reader):
        ctx.layer.group_add(group, member)
    ctx.layer.group_add(other_group, stale)
    ctx.layer.send_group(group, {"n": 1})
    ctx.receive_one([reader], "the group message on the member that reads")
    ctx.advance(expiry)
    keeps_reader = ctx.profile.group_expiry is None or (
        ctx.profile.group_expiry > 1.5 * (expiry + ctx.profile.expiry_margin)
    )
    members = _members(ctx, group)
    if members is not None:
        ctx.expect(
            not members & {stale, stale_local},
            f"members whose message expired unread are still in the group: {sorted(members)}",
        )
        if keeps_reader:
            ctx.expect(reader in members, f"the reading member was dropped: {sorted(members)}")
        other_members = _members(ctx, other_group)
        ctx.expect(
            stale not in (other_members or set()),
            f"the expired member is still in its second group: {other_members}",
        )
    ctx.layer.send_group(group, {"n": 2})
    ctx.assert_empty([stale], "the member was dropped when its message expired")
    ctx.assert_empty([stale_local[: stale_local.index("!") + 1]], "x!y member was dropped")
    if keeps_reader:
        _channel, got = ctx.receive_one([reader], "the second group message")
        ctx.expect_equal(got, {"n": 2}, "second group message on the reading member")


@check("expiry.group_membership")
def group_membership(ctx: CheckContext) -> None:
    """Group membership lapses group_expiry after the latest group_add of that member."""
    ctx.require_extension("groups")
    group_expiry = ctx.require_time("group_expiry")
    margin = ctx.profile.expiry_margin
    group = ctx.name("group")
    old, refreshed, late = ctx.name("old"), ctx.name("refreshed"), ctx.name("late")
    ctx.layer.group_add(group, old)
    ctx.layer.group_add(group, refreshed)
    check_refresh = ctx.profile.clock is not None or margin < group_expiry / 4
    if check_refresh:
        ctx.advance(group_expiry / 2)
        ctx.layer.group_add(group, refreshed)
        ctx.layer.group_add(group, late)
        ctx.advance(group_expiry / 2)
    else:
        ctx.advance(group_expiry)
    ctx.layer.send_group(group, {"value": "blue"})
    ctx.assert_empty([old], f"membership should have lapsed after {group_expiry} s")
    members = _members(ctx, group)
    if check_refresh:
        for member in (refreshed, late):
            _channel, got = ctx.receive_one([member], f"the group message on {member}")
            ctx.expect_equal(got, {"value": "blue"}, "group message on a current member")
        if members is not None:
            ctx.expect_equal(members, {refreshed, late}, "group_channels after expiry")
    else:
        ctx.assert_empty([refreshed], f"membership should have lapsed after {group_expiry} s")
        if members is not None:
            ctx.expect_equal(members, set(), "group_channels after expiry")
