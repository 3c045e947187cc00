"""Read replies for every connection of this process from the channel layer.

How this works
--------------
All connections share one process-specific prefix (``daphne.response.X!``), so
one receive loop serves every client. The loop picks the best way the layer
offers, in this order:

``async``   The reactor is Twisted's asyncio reactor and the layer has
            ``receive_async``: a task awaits it forever. A result of
            ``(None, None)`` only means the layer's own wait timed out; loop.
``twisted`` The layer has ``receive_twisted``: chain Deferreds, one receive
            outstanding at a time.
``poll``    Neither (or ``force_sync``): call ``receive(block=False)`` on a
            timer. After a message, poll again at once (draining a burst);
            after an empty poll, double the delay from ``poll_min_delay`` up
            to ``poll_max_delay``, so an idle server costs a few wake-ups a
            second and a busy one adds no latency.

A failing receive (layer down) is logged and retried with the same back-off,
never crashes the loop. ``stop`` ends whichever loop runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from daphne.context import Clock, DelayedCall

__all__ = ["ReplyReader", "choose_mode"]

logger = logging.getLogger(__name__)

Dispatch = Callable[[str, dict[str, Any]], None]
_DRAIN_BATCH = 100


def choose_mode(channel_layer: Any, reactor: Any, force_sync: bool = False) -> str:
    """Return "async", "twisted" or "poll": how replies will be read from this layer."""
    extensions = set(getattr(channel_layer, "extensions", ()) or ())
    if not force_sync:
        loop = getattr(reactor, "_asyncioEventloop", None)
        if "async" in extensions and loop is not None and hasattr(channel_layer, "receive_async"):
            return "async"
        if "twisted" in extensions and hasattr(channel_layer, "receive_twisted"):
            return "twisted"
    return "poll"


class ReplyReader:
    """Receive on ``channels`` with the best available method and dispatch each reply."""

    def __init__(
        self,
        channel_layer: Any,
        channels: list[str],
        dispatch: Dispatch,
        reactor: Clock,
        force_sync: bool = False,
        min_delay: float = 0.001,
        max_delay: float = 0.1,
    ) -> None:
        self.channel_layer = channel_layer
        self.channels = channels
        self.dispatch = dispatch
        self.reactor = reactor
        self.mode = choose_mode(channel_layer, reactor, force_sync)
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.delay = min_delay
        self.running = False
        self._task: asyncio.Task[None] | None = None
        self._call: DelayedCall | None = None

    def start(self) -> None:
        """Begin reading; replies are dispatched on the reactor thread."""
        if self.running:
            return
        self.running = True
        logger.info("Reading replies on %s via %s", self.channels[0], self.mode)
        if self.mode == "async":
            loop: asyncio.AbstractEventLoop = self.reactor._asyncioEventloop
            self._task = loop.create_task(self._run_async())
        elif self.mode == "twisted":
            self._schedule(0, self._receive_twisted)
        else:
            self._schedule(0, self._poll)

    def stop(self) -> None:
        """Stop reading (idempotent)."""
        self.running = False
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    # Shared -------------------------------------------------------------------

    def _deliver(self, channel: str | None, message: dict[str, Any] | None) -> bool:
        if channel is None or message is None:
            return False
        self.dispatch(channel, message)
        return True

    def _backoff(self) -> float:
        delay = self.delay
        self.delay = min(self.max_delay, self.delay * 2)
        return delay

    def _schedule(self, delay: float, function: Callable[[], None]) -> None:
        if self.running:
            self._call = self.reactor.callLater(delay, function)

    # async --------------------------------------------------------------------

    async def _run_async(self) -> None:
        receive = self.channel_layer.receive_async
        while self.running:
            try:
                channel, message = await receive(self.channels)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Receiving replies failed; retrying")
                await asyncio.sleep(self._backoff())
                continue
            self.delay = self.min_delay
            if channel is not None:
                self.dispatch(channel, message)

    # twisted ------------------------------------------------------------------

    def _receive_twisted(self) -> None:
        self._call = None
        if not self.running:
            return
        deferred: Deferred[Any] = self.channel_layer.receive_twisted(self.channels)
        deferred.addCallbacks(self._got_twisted, self._failed_twisted)

    def _got_twisted(self, result: Any) -> None:
        self.delay = self.min_delay
        channel, message = result if result else (None, None)
        self._deliver(channel, message)
        # Re-arm through the reactor so a layer that fires synchronously cannot recurse.
        self._schedule(0, self._receive_twisted)

    def _failed_twisted(self, failure: Failure) -> None:
        logger.error("Receiving replies failed; retrying: %s", failure.getErrorMessage())
        self._schedule(self._backoff(), self._receive_twisted)

    # poll ---------------------------------------------------------------------

    def _poll(self) -> None:
        self._call = None
        if not self.running:
            return
        received = 0
        try:
            for _ in range(_DRAIN_BATCH):
                channel, message = self.channel_layer.receive(self.channels, block=False)
                if not self._deliver(channel, message):
                    break
                received += 1
        except Exception:
            logger.exception("Receiving replies failed; retrying")
        if received:
            self.delay = self.min_delay
            self._schedule(0, self._poll)
        else:
            self._schedule(self._backoff(), self._poll)
