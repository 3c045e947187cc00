"""Checks of the ``async`` extension: receive_async, declared if and only if present."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from asgi_conformance.context import CheckContext
from asgi_conformance.registry import check

__all__: list[str] = []

logger = logging.getLogger(__name__)


def _run(ctx: CheckContext, make: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Run a coroutine on a fresh event loop in a thread, bounded by block_limit."""

    async def bounded() -> Any:
        return await asyncio.wait_for(make(), ctx.profile.block_limit)

    try:
        return ctx.in_thread(lambda: asyncio.run(bounded()), what)
    except TimeoutError as exc:
        ctx.expect(False, f"{what} did not return within {ctx.profile.block_limit} s ({exc!r})")


async def _receive(ctx: CheckContext, channels: list[str]) -> tuple[Any, Any]:
    result: tuple[Any, Any] = (None, None)
    for _ in range(ctx.profile.receive_tries):
        result = tuple(await ctx.layer.receive_async(channels))
        if result[0] is not None:
            break
    return result


@check("async.declared")
def declared(ctx: CheckContext) -> None:
    """A layer lists 'async' in extensions if and only if it has receive_async."""
    has_method = callable(getattr(ctx.layer, "receive_async", None))
    declares = ctx.has_extension("async")
    ctx.expect(
        has_method == declares,
        f"'async' in extensions is {declares} but having receive_async is {has_method}",
    )


@check("async.receive")
def receive(ctx: CheckContext) -> None:
    """receive_async returns waiting messages, on plain and x! channels, and checks names."""
    ctx.require_extension("async")
    plain, local = ctx.name(), ctx.name("proc") + "!local"
    prefix = local[: local.index("!") + 1]
    ctx.layer.send(plain, {"value": "blue"})
    ctx.layer.send(local, {"value": "green"})
    got = _run(ctx, lambda: _receive(ctx, [plain]), "receive_async on a channel with a message")
    ctx.expect_equal(got, (plain, {"value": "blue"}), "receive_async result")
    got = _run(ctx, lambda: _receive(ctx, [prefix]), "receive_async on a process prefix")
    ctx.expect_equal(got, (local, {"value": "green"}), "receive_async result on x!")

    async def full_name() -> None:
        await ctx.layer.receive_async([local])

    ctx.expect_raises(
        TypeError,
        f"receive_async([{local!r}])",
        lambda: _run(ctx, full_name, "receive_async on a full x!y name"),
    )


@check("async.receive_wakeup")
def receive_wakeup(ctx: CheckContext) -> None:
    """An awaiting receive_async returns a message sent from another thread meanwhile."""
    ctx.require_extension("async")
    channel = ctx.name()
    waiting, sent = threading.Event(), threading.Event()

    def send_later() -> None:
        waiting.wait(ctx.profile.block_limit)
        ctx.layer.send(channel, {"value": "late"})
        sent.set()

    sender = threading.Thread(target=send_later, daemon=True)
    sender.start()

    async def wait() -> tuple[Any, Any]:
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, waiting.set)
        result: tuple[Any, Any] = (None, None)
        tries_after_send = 0
        while tries_after_send < ctx.profile.receive_tries:
            sent_before = sent.is_set()
            result = tuple(await ctx.layer.receive_async([channel]))
            if result[0] is not None:
                break
            tries_after_send += sent_before
        return result

    got = _run(ctx, wait, "receive_async with a message on the way")
    sender.join(ctx.profile.block_limit)
    ctx.expect_equal(got, (channel, {"value": "late"}), "receive_async result")


@check("async.receive_empty")
def receive_empty(ctx: CheckContext) -> None:
    """receive_async on an empty channel returns (None, None) within a bounded time."""
    ctx.require_extension("async")
    channel = ctx.name()

    async def once() -> tuple[Any, Any]:
        return tuple(await ctx.layer.receive_async([channel]))

    got = _run(ctx, once, "receive_async on an empty channel")
    ctx.expect_equal(got, (None, None), "receive_async on an empty channel")
