"""Batch checks: ``send_many``, the optional one-call way to send several messages.

``send_many`` is not in the ASGI 1.0 spec; this project's layers offer it so an
interface server or worker can hand a whole batch to the layer at once. A layer
without it skips these checks. With it, every pair must behave exactly as a
plain ``send`` of that pair would, and one failure must not affect the others.
"""

from __future__ import annotations

import logging

from asgi_conformance.context import CheckContext
from asgi_conformance.registry import check

__all__: list[str] = []

logger = logging.getLogger(__name__)


def _require_send_many(ctx: CheckContext) -> None:
    if not callable(getattr(ctx.layer, "send_many", None)):
        ctx.skip("layer has no send_many")


@check("batch.send_many_order")
def send_many_order(ctx: CheckContext) -> None:
    """send_many queues every pair and reports None for each; ? and x! channels keep order."""
    _require_send_many(ctx)
    ordered = ctx.layer.new_channel(ctx.name("order") + "?")
    plain = ctx.name()
    prefix = ctx.name("proc") + "!"
    pairs = [
        (ordered, {"n": 0}),
        (plain, {"n": 1}),
        (ordered, {"n": 2}),
        (prefix + "a", {"n": 3}),
        (ordered, {"n": 4}),
        (prefix + "b", {"n": 5}),
        (plain, {"n": 6}),
        (prefix + "a", {"n": 7}),
    ]
    results = ctx.layer.send_many(pairs)
    ctx.expect_equal(list(results), [None] * len(pairs), "send_many results")
    per_channel: dict[str, list[int]] = {}
    for channel, message in ctx.drain([ordered, plain, prefix]):
        per_channel.setdefault(channel, []).append(message["n"])
    # Like plain sends, a normal channel promises delivery but not order (it may be sharded).
    per_channel[plain] = sorted(per_channel.get(plain, []))
    ctx.expect_equal(
        per_channel,
        {ordered: [0, 2, 4], plain: [1, 6], prefix + "a": [3, 7], prefix + "b": [5]},
        "messages received per channel",
    )
    ctx.expect_equal(list(ctx.layer.send_many([])), [], "send_many of an empty batch")


@check("batch.send_many_failures")
def send_many_failures(ctx: CheckContext) -> None:
    """A full channel or an invalid pair fails alone, as its exception; the rest are queued."""
    _require_send_many(ctx)
    capacity = ctx.require_capacity()
    full, other = ctx.name("full"), ctx.name()
    for number in range(capacity):
        ctx.layer.send(full, {"n": number})
    pairs = [
        (other, {"n": 0}),
        (full, {"n": -1}),
        ("bad name!!", {"n": -2}),
        (other, {"n": 1}),
    ]
    results = list(ctx.layer.send_many(pairs))
    ctx.expect_equal(len(results), len(pairs), "number of send_many results")
    ctx.expect(results[0] is None, f"the first pair failed: {results[0]!r}")
    ctx.expect(
        isinstance(results[1], ctx.layer.ChannelFull),
        f"the pair for the full channel gave {results[1]!r}, not a ChannelFull instance",
    )
    ctx.expect(
        isinstance(results[2], TypeError),
        f"the pair with an invalid channel name gave {results[2]!r}, not a TypeError instance",
    )
    ctx.expect(results[3] is None, f"the pair after two failures failed: {results[3]!r}")
    got = [message["n"] for _channel, message in ctx.drain([other])]
    ctx.expect_equal(got, [0, 1], "messages queued around the failures")
    drained = [message["n"] for _channel, message in ctx.drain([full])]
    ctx.expect(-1 not in drained, "the message refused with ChannelFull was delivered anyway")


@check("batch.send_many_and_receive")
def send_many_and_receive(ctx: CheckContext) -> None:
    """send_many_and_receive sends first, then receives: it can return what it just sent."""
    call = getattr(ctx.layer, "send_many_and_receive", None)
    if not callable(call):
        ctx.skip("layer has no send_many_and_receive")
    inbox, other = ctx.name("inbox"), ctx.name()
    results, received = call([(other, {"n": 1}), (inbox, {"n": 2})], [inbox], False)
    ctx.expect_equal(list(results), [None, None], "send results")
    ctx.expect_equal(tuple(received), (inbox, {"n": 2}), "message received in the same call")
    results, received = call([], [inbox], False)
    ctx.expect_equal((list(results), tuple(received)), ([], (None, None)), "empty call")
    results, received = call([(inbox, {"n": 3})], [inbox], True)
    ctx.expect_equal(tuple(received), (inbox, {"n": 3}), "blocking receive after sends")
    ctx.expect_equal(ctx.drain([other]), [(other, {"n": 1})], "the other message")
