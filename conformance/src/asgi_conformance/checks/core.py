"""Core checks: send, receive, process-specific channels, new_channel, blocking receive."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from asgi_conformance.context import CheckContext
from asgi_conformance.registry import CheckFailed, check

__all__: list[str] = []

logger = logging.getLogger(__name__)


@check("core.exceptions")
def exceptions(ctx: CheckContext) -> None:
    """layer.ChannelFull and layer.MessageTooLarge exist and are distinct Exception subclasses."""
    for name in ("ChannelFull", "MessageTooLarge"):
        value = getattr(ctx.layer, name, None)
        ctx.expect(value is not None, f"the layer has no {name} attribute")
        ctx.expect(
            isinstance(value, type) and issubclass(value, Exception),
            f"layer.{name} is {value!r}, not an Exception subclass",
        )
    ctx.expect(
        ctx.layer.ChannelFull is not ctx.layer.MessageTooLarge,
        "ChannelFull and MessageTooLarge are the same class",
    )


@check("core.extensions")
def extensions(ctx: CheckContext) -> None:
    """layer.extensions is a list of str naming known extensions."""
    value = getattr(ctx.layer, "extensions", None)
    ctx.expect(isinstance(value, list | tuple), f"layer.extensions is {value!r}, not a list")
    # The spec's extension list says "asyncio" where its API section says "async".
    known = {"groups", "flush", "statistics", "twisted", "async", "asyncio"}
    for item in value or ():
        ctx.expect(isinstance(item, str), f"layer.extensions holds {item!r}, not a str")
        ctx.expect(item in known, f"layer.extensions holds unknown extension {item!r}")


@check("core.send_receive")
def send_receive(ctx: CheckContext) -> None:
    """A message sent on a channel is received from it, once, as an equal dict."""
    channel = ctx.name()
    ctx.layer.send(channel, {"value": "blue"})
    got_channel, message = ctx.receive_one([channel])
    ctx.expect_equal(got_channel, channel, "receive returned the channel")
    ctx.expect_equal(message, {"value": "blue"}, "received message")
    ctx.assert_empty([channel], "the message was already received once")


@check("core.send_receive_several")
def send_receive_several(ctx: CheckContext) -> None:
    """Receiving from several channels returns each channel's own messages, none twice."""
    first, second, third = ctx.name(), ctx.name(), ctx.name()
    ctx.layer.send(first, {"value": "blue"})
    ctx.layer.send(second, {"value": "green"})
    ctx.layer.send(second, {"value": "yellow"})
    ctx.assert_empty([third], "nothing was sent to this channel")
    got = ctx.drain([first, second, third])
    expected = sorted([(first, "blue"), (second, "green"), (second, "yellow")])
    seen = sorted((channel, message.get("value")) for channel, message in got)
    ctx.expect_equal(seen, expected, "messages received from three channels")


@check("core.receive_empty")
def receive_empty(ctx: CheckContext) -> None:
    """A non-blocking receive on empty channels returns (None, None)."""
    result = ctx.layer.receive([ctx.name(), ctx.name()], block=False)
    ctx.expect_equal(tuple(result), (None, None), "receive on empty channels")


@check("core.process_specific")
def process_specific(ctx: CheckContext) -> None:
    """Messages sent to x!a and x!b arrive, with their full names and in order, on x!."""
    prefix = ctx.name("proc") + "!"
    sent = [(prefix + "alpha", 1), (prefix + "beta", 2), (prefix + "alpha", 3)]
    for channel, number in sent:
        ctx.layer.send(channel, {"n": number})
    got = [(channel, message["n"]) for channel, message in ctx.drain([prefix])]
    ctx.expect_equal(got, sent, "messages received from the process-specific prefix")


@check("core.process_specific_full_name")
def process_specific_full_name(ctx: CheckContext) -> None:
    """Receiving on a full process-specific name (x!y) raises TypeError."""
    name = ctx.name("proc") + "!local"
    ctx.expect_raises(TypeError, f"receive([{name!r}])", ctx.layer.receive, [name])


@check("core.single_reader_order")
def single_reader_order(ctx: CheckContext) -> None:
    """Messages on a ? channel from new_channel arrive in the order they were sent."""
    channel = ctx.layer.new_channel(ctx.name("order") + "?")
    for number in range(5):
        ctx.layer.send(channel, {"n": number})
    got = [message["n"] for _channel, message in ctx.drain([channel])]
    ctx.expect_equal(got, list(range(5)), "order of messages on a single-reader channel")


@check("core.new_channel")
def new_channel(ctx: CheckContext) -> None:
    """new_channel('x?') returns fresh, distinct, usable names starting with the pattern."""
    pattern = ctx.name("new") + "?"
    names = [ctx.layer.new_channel(pattern) for _ in range(3)]
    for name in names:
        ctx.expect(isinstance(name, str), f"new_channel returned {name!r}, not a str")
        ctx.expect(
            name.startswith(pattern) and len(name) > len(pattern),
            f"new_channel({pattern!r}) returned {name!r}, which does not extend the pattern",
        )
    ctx.expect(len(set(names)) == 3, f"new_channel returned duplicate names {names!r}")
    ctx.layer.send(names[0], {"value": "blue"})
    ctx.assert_empty(names[1:], "only the first new channel was sent to")
    got_channel, message = ctx.receive_one([names[0]])
    ctx.expect_equal((got_channel, message), (names[0], {"value": "blue"}), "received")


@check("core.new_channel_failures")
def new_channel_failures(ctx: CheckContext) -> None:
    """new_channel with a '!' pattern or no type character raises TypeError."""
    base = ctx.name("bad")
    for pattern in (base + "!", base):
        ctx.expect_raises(TypeError, f"new_channel({pattern!r})", ctx.layer.new_channel, pattern)


@check("core.message_isolation")
def message_isolation(ctx: CheckContext) -> None:
    """Mutating a message after sending it does not change what is received."""
    channel = ctx.name()
    message: dict[str, Any] = {"value": [1, 2, 3], "nested": {"key": b"data"}}
    ctx.layer.send(channel, message)
    message["value"][0] = "changed"
    message["nested"]["key"] = b"changed"
    message["extra"] = True
    _channel, got = ctx.receive_one([channel])
    ctx.expect_equal(
        got,
        {"value": [1, 2, 3], "nested": {"key": b"data"}},
        "message received after the sent dict was mutated",
    )


@check("core.blocking_receive")
def blocking_receive(ctx: CheckContext) -> None:
    """receive(block=True) returns a message sent by another thread while it waits."""
    channel = ctx.name()
    started, sent = threading.Event(), threading.Event()

    def send_later() -> None:
        # Give the receive time to start waiting; a slow machine only makes it wait longer.
        started.wait(ctx.profile.block_limit)
        time.sleep(0.2)
        ctx.layer.send(channel, {"value": "late"})
        sent.set()

    sender = threading.Thread(target=send_later, daemon=True)
    sender.start()

    def receive() -> tuple[Any, Any]:
        started.set()
        return tuple(ctx.layer.receive([channel], block=True))

    result = ctx.in_thread(
        lambda: ctx.wait_for_message(receive, sent), "receive(block=True) with a message on the way"
    )
    sender.join(ctx.profile.block_limit)
    ctx.expect_equal(result, (channel, {"value": "late"}), "blocking receive result")


@check("core.blocking_receive_empty")
def blocking_receive_empty(ctx: CheckContext) -> None:
    """receive(block=True) on an empty channel returns (None, None) within a bounded time."""
    channel = ctx.name()
    result = ctx.in_thread(
        lambda: tuple(ctx.layer.receive([channel], block=True)),
        "receive(block=True) on an empty channel",
    )
    ctx.expect_equal(result, (None, None), "blocking receive on an empty channel")


@check("core.fairness")
def fairness(ctx: CheckContext) -> None:
    """A flood on one channel does not starve another when receiving from both."""
    flood, quiet = ctx.name("flood"), ctx.name("quiet")
    wanted = 30 if ctx.profile.capacity is None else min(30, ctx.profile.capacity - 1)
    sent = 0
    for number in range(wanted):
        try:
            ctx.layer.send(flood, {"n": number})
        except ctx.layer.ChannelFull:
            break
        sent += 1
    if sent < 4:
        ctx.skip(f"only {sent} messages fit on one channel; need 4 to show starvation")
    ctx.layer.send(quiet, {"quiet": True})
    for position in range(sent + 1):
        channel, _message = ctx.receive_one([flood, quiet], "a queued message")
        if channel == quiet:
            ctx.expect(
                position < sent,
                f"the quiet channel's message came only after all {sent} flood messages",
            )
            return
    raise CheckFailed("the quiet channel's message never arrived")
