"""Checks of the ``twisted`` extension: receive_twisted returns a Deferred that fires.

The checks need a running reactor. If none runs yet, the global reactor is
started once in a daemon thread (without signal handlers) and left running; the
checks call into it with ``blockingCallFromThread`` from a worker thread.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from asgi_conformance.context import CheckContext
from asgi_conformance.registry import check

__all__: list[str] = []

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _running_reactor(ctx: CheckContext) -> Any:
    """Return the global reactor, started in a daemon thread if needed."""
    global _thread
    try:
        from twisted.internet import reactor
    except ImportError:
        ctx.skip("the layer declares 'twisted' but Twisted is not installed")
    with _lock:
        if not reactor.running and _thread is None:
            logger.info("Starting the Twisted reactor in a daemon thread for the twisted checks")
            _thread = threading.Thread(
                target=reactor.run,  # type: ignore[misc]
                kwargs={"installSignalHandlers": False},
                name="conformance-reactor",
                daemon=True,
            )
            _thread.start()
    deadline = time.monotonic() + 10
    while not reactor.running:
        if time.monotonic() > deadline or (_thread is not None and not _thread.is_alive()):
            ctx.skip("could not start a Twisted reactor in this process (already stopped?)")
        time.sleep(0.01)
    return reactor


def _receive(ctx: CheckContext, channels: list[str], what: str, tries: int | None = None) -> Any:
    from twisted.internet.threads import blockingCallFromThread

    reactor = _running_reactor(ctx)

    def call() -> Any:
        result: Any = (None, None)
        for _ in range(tries or ctx.profile.receive_tries):
            result = blockingCallFromThread(reactor, ctx.layer.receive_twisted, channels)
            if result[0] is not None:
                break
        return tuple(result)

    return ctx.in_thread(call, what)


@check("twisted.declared")
def declared(ctx: CheckContext) -> None:
    """A layer lists 'twisted' in extensions if and only if it has receive_twisted."""
    has_method = callable(getattr(ctx.layer, "receive_twisted", None))
    declares = ctx.has_extension("twisted")
    ctx.expect(
        has_method == declares,
        f"'twisted' in extensions is {declares} but having receive_twisted is {has_method}",
    )


@check("twisted.receive")
def receive(ctx: CheckContext) -> None:
    """receive_twisted fires with waiting messages and with messages sent while it waits."""
    ctx.require_extension("twisted")
    # Start the reactor first: starting it can take longer than a short test expiry.
    _running_reactor(ctx)
    channel = ctx.name()
    ctx.layer.send(channel, {"value": "blue"})
    got = _receive(ctx, [channel], "receive_twisted on a channel with a message")
    ctx.expect_equal(got, (channel, {"value": "blue"}), "receive_twisted result")

    from twisted.internet.threads import blockingCallFromThread

    reactor = _running_reactor(ctx)
    sent = threading.Event()

    def send_late() -> None:
        ctx.layer.send(channel, {"value": "late"})
        sent.set()

    def receive_once() -> Any:
        return tuple(blockingCallFromThread(reactor, ctx.layer.receive_twisted, [channel]))

    timer = threading.Timer(0.2, send_late)
    timer.start()
    try:
        got = ctx.in_thread(
            lambda: ctx.wait_for_message(receive_once, sent),
            "receive_twisted with a message on the way",
        )
    finally:
        timer.join(ctx.profile.block_limit)
    ctx.expect_equal(got, (channel, {"value": "late"}), "receive_twisted result (woken)")


@check("twisted.receive_empty")
def receive_empty(ctx: CheckContext) -> None:
    """receive_twisted on an empty channel fires with (None, None) within a bounded time."""
    ctx.require_extension("twisted")
    got = _receive(ctx, [ctx.name()], "receive_twisted on an empty channel", tries=1)
    ctx.expect_equal(got, (None, None), "receive_twisted on an empty channel")
