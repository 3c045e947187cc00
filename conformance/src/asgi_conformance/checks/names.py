"""Name checks: lengths, characters, and what receive and groups accept."""

from __future__ import annotations

import logging
from typing import Any

from asgi_conformance.context import CheckContext
from asgi_conformance.registry import check

__all__: list[str] = []

logger = logging.getLogger(__name__)

_BAD_NAMES: tuple[Any, ...] = (
    "",
    "with space",
    "caf\u00e9",
    "slash/name",
    "two?marks?",
    "two!marks!x",
    "mixed?and!x",
    b"bytes-name",
    42,
    None,
)


def _padded(ctx: CheckContext, length: int, suffix: str = "") -> str:
    base = ctx.name("len") + "."
    return base + "x" * (length - len(base) - len(suffix)) + suffix


@check("names.max_length")
def max_length(ctx: CheckContext) -> None:
    """A 199-character channel name works; 200 characters raise TypeError."""
    good = _padded(ctx, 199)
    ctx.layer.send(good, {"n": 1})
    channel, _message = ctx.receive_one([good])
    ctx.expect_equal(channel, good, "channel of a 199-character name")
    bad = _padded(ctx, 200)
    ctx.expect_raises(TypeError, "send() to a 200-character name", ctx.layer.send, bad, {"n": 1})
    ctx.expect_raises(TypeError, "receive() on a 200-character name", ctx.layer.receive, [bad])


@check("names.max_length_process_specific")
def max_length_process_specific(ctx: CheckContext) -> None:
    """A 199-character x!y name works, received through its x! prefix."""
    good = _padded(ctx, 199, "!local")
    prefix = good[: good.index("!") + 1]
    ctx.layer.send(good, {"n": 1})
    channel, _message = ctx.receive_one([prefix])
    ctx.expect_equal(channel, good, "channel of a 199-character process-specific name")
    bad = _padded(ctx, 200, "!local")
    ctx.expect_raises(TypeError, "send() to a 200-character x!y name", ctx.layer.send, bad, {})


@check("names.invalid_channel")
def invalid_channel(ctx: CheckContext) -> None:
    """send() and receive() reject bad channel names (characters, type, empty) with TypeError."""
    for name in _BAD_NAMES:
        ctx.expect_raises(TypeError, f"send({name!r}, ...)", ctx.layer.send, name, {"n": 1})
        ctx.expect_raises(TypeError, f"receive([{name!r}])", ctx.layer.receive, [name])


@check("names.receive_needs_list")
def receive_needs_list(ctx: CheckContext) -> None:
    """receive() given one str instead of a list of names raises TypeError."""
    name = ctx.name()
    ctx.expect_raises(TypeError, f"receive({name!r})", ctx.layer.receive, name)


@check("names.invalid_group")
def invalid_group(ctx: CheckContext) -> None:
    """Group names with '?', '!', bad characters or 200 characters raise TypeError."""
    ctx.require_extension("groups")
    channel = ctx.name()
    long_group = _padded(ctx, 200)
    for group in (*_BAD_NAMES, ctx.name("g") + "?", ctx.name("g") + "!x", long_group):
        ctx.expect_raises(
            TypeError, f"group_add({group!r}, ...)", ctx.layer.group_add, group, channel
        )
        ctx.expect_raises(
            TypeError, f"send_group({group!r}, ...)", ctx.layer.send_group, group, {"n": 1}
        )
    good_group = _padded(ctx, 199)
    ctx.layer.group_add(good_group, channel)
    ctx.layer.send_group(good_group, {"n": 2})
    _channel, message = ctx.receive_one([channel], "the message sent to a 199-character group")
    ctx.expect_equal(message, {"n": 2}, "message sent to a 199-character group")
