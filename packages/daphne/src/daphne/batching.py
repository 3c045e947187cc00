"""Send layer messages in batches: one layer call per reactor turn.

How this works
--------------
Protocol code never blocks on the channel layer message by message.
``SendBatcher.send`` queues a ``(channel, message)`` pair with two callbacks
and returns a ``PendingSend``. The first send queued in a reactor turn
schedules ``flush`` with ``clock.callLater(0, ...)`` (``loop.call_soon`` on an
event loop), so everything the reactor handled in that turn (requests from many
sockets, frames, disconnects) goes out together: in one ``send_many(pairs)``
call when the layer offers it (asgi_redis pipelines a batch into one round trip
per shard), else with one ``send`` per message. Then each entry's
``on_sent()`` or ``on_error(exc)`` runs on the reactor thread, in queue order;
``exc`` is the exception a plain ``send`` would have raised (``ChannelFull``,
``MessageTooLarge``, a connection error ...). A callback that raises is logged
and does not stop the others.

On Twisted's asyncio reactor, when the layer offers ``send_many_async``
(asgi_redis does), the flush does not wait for the layer at all: it starts a
task for the batch and the callbacks run when the layer has answered, so the
reactor keeps serving sockets while a batch is in flight and several batches
may be in flight at once. At shutdown ``drain`` sends synchronously.

Ordering: a batch reaches the layer in queue order, but one message of a batch
can fail while a later one succeeds (a worker made room in between), so a
connection keeps at most one ordered message in flight and queues the next one
from the previous one's ``on_sent``; sends queued while a batch is being
handled go into the next batch. A queued message can be cancelled until its
batch is handed to the layer; after that its callbacks always run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from daphne.deadlines import Clock, DelayedCall

__all__ = ["OnError", "OnSent", "PendingSend", "SendBatcher"]

logger = logging.getLogger(__name__)

OnSent = Callable[[], None]
OnError = Callable[[BaseException], None]

_QUEUED, _CANCELLED, _HANDED = 0, 1, 2
_DRAIN_ROUNDS = 100


class PendingSend:
    """One queued message; ``cancel()`` withdraws it until its batch goes out."""

    __slots__ = ("channel", "message", "on_error", "on_sent", "state")

    def __init__(
        self,
        channel: str,
        message: dict[str, Any],
        on_sent: OnSent | None,
        on_error: OnError | None,
    ) -> None:
        self.channel = channel
        self.message = message
        self.on_sent = on_sent
        self.on_error = on_error
        self.state = _QUEUED

    def queued(self) -> bool:
        """Return True while the message waits for its batch (and can be cancelled)."""
        return self.state == _QUEUED

    def cancel(self) -> bool:
        """Withdraw the message if its batch has not gone out; return True if withdrawn."""
        if self.state != _QUEUED:
            return False
        self.state = _CANCELLED
        self.message = {}
        self.on_sent = self.on_error = None
        return True


class SendBatcher:
    """Queue sends for one layer and flush them once per reactor turn."""

    def __init__(
        self,
        channel_layer: Any,
        clock: Clock,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.channel_layer = channel_layer
        self.clock = clock
        send_many = getattr(channel_layer, "send_many", None)
        self.send_many: Callable[[list[tuple[str, dict[str, Any]]]], list[Any]] | None = (
            send_many if callable(send_many) else None
        )
        send_many_async = getattr(channel_layer, "send_many_async", None)
        self.loop = loop
        self.send_many_async: Callable[..., Coroutine[Any, Any, list[Any]]] | None = (
            send_many_async if loop is not None and callable(send_many_async) else None
        )
        self.in_flight = 0
        self.queue: list[PendingSend] = []
        self.flush_call: DelayedCall | asyncio.Handle | None = None

    def send(
        self,
        channel: str,
        message: dict[str, Any],
        on_sent: OnSent | None = None,
        on_error: OnError | None = None,
    ) -> PendingSend:
        """Queue ``message`` for ``channel``; it goes out with this turn's batch."""
        entry = PendingSend(channel, message, on_sent, on_error)
        self.queue.append(entry)
        if self.flush_call is None:
            # On an event loop, call_soon: Twisted's callLater(0) costs a heap entry
            # and a reschedule of the loop's timer per batch.
            if self.loop is not None:
                self.flush_call = self.loop.call_soon(self.flush)
            else:
                self.flush_call = self.clock.callLater(0, self.flush)
        return entry

    def pending(self) -> int:
        """Return how many queued messages still wait for a flush."""
        return sum(1 for entry in self.queue if entry.state == _QUEUED)

    def flush(self, blocking: bool = False) -> None:
        """Send everything queued so far in one layer call, then run the callbacks.

        With ``send_many_async`` (and not ``blocking``) the callbacks run later,
        when the layer has answered.
        """
        call, self.flush_call = self.flush_call, None
        if isinstance(call, asyncio.Handle):
            call.cancel()
        elif call is not None and call.active():
            call.cancel()
        batch = [entry for entry in self.queue if entry.state == _QUEUED]
        self.queue = []
        if not batch:
            return
        for entry in batch:
            entry.state = _HANDED
        if self.send_many_async is not None and self.loop is not None and not blocking:
            pairs = [(entry.channel, entry.message) for entry in batch]
            task: asyncio.Task[list[Any]] = self.loop.create_task(self.send_many_async(pairs))
            self.in_flight += 1
            task.add_done_callback(lambda done: self._sent_async(batch, done))
            return
        self._complete(batch, self._send_batch(batch))

    def _sent_async(self, batch: list[PendingSend], task: asyncio.Task[list[Any]]) -> None:
        self.in_flight -= 1
        results: list[BaseException | None]
        if task.cancelled():
            results = [ConnectionError("the send was cancelled")] * len(batch)
        elif task.exception() is not None:
            exc = task.exception()
            logger.error("send_many_async failed for a batch of %d messages: %r", len(batch), exc)
            results = [exc] * len(batch)
        else:
            results = _checked_results(task.result(), len(batch))
        self._complete(batch, results)

    def _complete(self, batch: list[PendingSend], results: list[BaseException | None]) -> None:
        for entry, result in zip(batch, results, strict=True):
            try:
                if result is None:
                    if entry.on_sent is not None:
                        entry.on_sent()
                elif entry.on_error is not None:
                    entry.on_error(result)
                else:
                    logger.warning("Could not send a message on %s: %r", entry.channel, result)
            except Exception:
                logger.exception("Error handling the outcome of a send on %s", entry.channel)
            entry.message = {}
            entry.on_sent = entry.on_error = None

    def drain(self) -> None:
        """Flush until nothing is queued, including follow-ups queued by callbacks."""
        for _ in range(_DRAIN_ROUNDS):
            if not self.queue:
                return
            self.flush(blocking=True)
        if self.queue:
            logger.warning("Gave up flushing %d queued sends at shutdown", self.pending())

    def _send_batch(self, batch: list[PendingSend]) -> list[BaseException | None]:
        pairs = [(entry.channel, entry.message) for entry in batch]
        send_many = self.send_many
        if send_many is not None:
            try:
                results = send_many(pairs)
            except Exception as exc:
                # send_many only raises for a malformed argument; fail every entry
                # rather than leave connections waiting for an outcome.
                logger.exception("send_many failed for a batch of %d messages", len(pairs))
                return [exc] * len(pairs)
            logger.debug("Sent a batch of %d messages with send_many", len(pairs))
            return _checked_results(results, len(pairs))
        outcomes: list[BaseException | None] = []
        send = self.channel_layer.send
        for channel, message in pairs:
            try:
                send(channel, message)
            except Exception as exc:  # reported to the entry's on_error
                outcomes.append(exc)
            else:
                outcomes.append(None)
        return outcomes


def _checked_results(results: object, count: int) -> list[BaseException | None]:
    """Return ``results`` as one outcome per message, or ``count`` errors if it is malformed."""
    if not isinstance(results, list | tuple) or len(results) != count:
        error = RuntimeError(
            f"send_many() returned {results!r:.80} for {count} messages; it must "
            "return one entry (None or an exception) per (channel, message) pair."
        )
        logger.error("%s", error)
        return [error] * count
    return [_as_outcome(result) for result in results]


def _as_outcome(result: object) -> BaseException | None:
    if result is None or isinstance(result, BaseException):
        return result
    return RuntimeError(
        f"send_many() reported {result!r:.80} for a message; expected None or an exception."
    )
