"""``Message``, what a consumer receives, and the per-consumer send buffer.

How this works
--------------
Consumer atomicity: while a consumer runs, ``Channel.send`` and ``Group.send``
(without ``immediately=True``) append to a buffer that belongs to the current
thread instead of touching the layer. The worker opens the buffer when it sends
``consumer_started`` and flushes it when it sends ``consumer_finished``, which
it does even when the consumer raised. So a consumer's sends happen together,
after its database work, never half-way through it. Outside a consumer (a
view, a shell) there is no open buffer and sends go straight to the layer.

Flushing sends in order. Consecutive channel sends go out as one
``send_many`` call when the layer offers it (one round trip on Redis). Inside
the worker loop the flush may wait a moment longer: when every buffered send is
a channel send on the worker's own layer and the layer has its own
``send_many_and_receive`` (asgi_redis; not the base class's "send, then
receive"), the buffer is kept and the worker's next receive
sends it in the same round trip (Redis queues the sends before it starts
waiting, so their readers get them at once). When the layer already holds
the worker's next message, the kept sends wait for the one after, at most
``channels._kept_sends.MAX_HOLD`` seconds (see :mod:`channels._kept_sends`);
an ``immediately=True`` send first sends what is kept, so sends to one
channel stay in order. A
``ChannelFull`` is retried with exponential back-off (``retry_delays``), after
the rest of its batch; when the channel stays full the message is dropped with
an error in the log and the rest of the buffer still goes out: a slow client
never kills the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from asgiref.base_layer import BaseChannelLayer

from channels._kept_sends import KeptSends

if TYPE_CHECKING:
    from channels.channel import Channel, Group

__all__ = ["Message", "PendingMessageStore", "pending_message_store"]

logger = logging.getLogger(__name__)


class Message:
    """A message received on a channel, as passed to a consumer.

    ``content`` is the ASGI message dict; ``channel`` the Channel it arrived
    on; ``reply_channel`` a Channel for its ``reply_channel`` key (or None);
    ``channel_layer`` the layer wrapper it came from. ``message["path"]`` and
    ``message.get("path")`` read the content.
    """

    def __init__(self, content: dict[str, Any], channel_name: str, channel_layer: Any) -> None:
        from channels.channel import Channel

        if not isinstance(content, dict):
            raise TypeError(
                f"Message content must be a dict, got {type(content).__name__} {content!r:.80}."
            )
        self.content = content
        self.channel_layer = channel_layer
        self.channel = Channel(channel_name, channel_layer=channel_layer)
        reply = content.get("reply_channel")
        self.reply_channel: Channel | None = (
            Channel(reply, channel_layer=channel_layer)
            if isinstance(reply, str) and reply
            else None
        )

    def __getitem__(self, key: str) -> Any:
        return self.content[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.content[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self.content

    def __iter__(self) -> Iterator[str]:
        return iter(self.content)

    def __len__(self) -> int:
        return len(self.content)

    def keys(self) -> Any:
        """Return the content's keys."""
        return self.content.keys()

    def values(self) -> Any:
        """Return the content's values."""
        return self.content.values()

    def items(self) -> Any:
        """Return the content's items."""
        return self.content.items()

    def get(self, key: str, default: Any = None) -> Any:
        """Return ``content[key]``, or ``default`` if it is missing."""
        return self.content.get(key, default)

    def copy(self) -> Message:
        """Return a new Message with a shallow copy of the content."""
        return type(self)(dict(self.content), self.channel.name, self.channel_layer)

    def __repr__(self) -> str:
        return f"<Message on {self.channel.name!r}>"


class PendingMessageStore:
    """Thread-local buffer of sends made inside a consumer (see the module docstring)."""

    def __init__(
        self,
        retry_delays: Sequence[float] = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6),
        sleep_fn: Callable[[float], None] = time.sleep,
    ) -> None:
        self.retry_delays = tuple(retry_delays)
        self.sleep_fn = sleep_fn
        self._local = threading.local()

    def active(self) -> bool:
        """Return True if the current thread is inside a consumer with an open buffer."""
        return getattr(self._local, "messages", None) is not None

    def prepare(self, **kwargs: Any) -> None:
        """Open an empty buffer for the current thread (a consumer_started receiver)."""
        self._local.messages = []

    def append(self, sender: Channel | Group, message: dict[str, Any]) -> bool:
        """Buffer a send if a buffer is open and return True; otherwise return False."""
        messages: list[tuple[Channel | Group, dict[str, Any]]] | None = getattr(
            self._local, "messages", None
        )
        if messages is None:
            return False
        messages.append((sender, message))
        return True

    def discard(self) -> None:
        """Close the current thread's buffer without sending what it holds."""
        self._local.messages = None

    def send_and_flush(self, **kwargs: Any) -> None:
        """Send everything buffered, then close the buffer (a consumer_finished receiver).

        In a worker loop that asked for it (:meth:`set_deferring`), channel sends
        on a layer with its own ``send_many_and_receive`` are kept for the worker's next
        receive instead (after any sends still kept from earlier consumers), which
        sends them in the same round trip.
        """
        messages = getattr(self._local, "messages", None)
        self._local.messages = None
        if not messages:
            return
        if self.deferring() and _deferrable(messages):
            slot = self.kept_slot()
            kept_layer = slot.layer()
            if kept_layer is not None and kept_layer is not messages[0][0].channel_layer:
                self.flush_deferred()
            slot.keep(messages)
            return
        self.flush_deferred()
        self.send_now(messages)

    def set_deferring(self, deferring: bool) -> None:
        """Let (or stop letting) this thread's flushes wait for the worker's next receive."""
        self._local.deferring = deferring
        if not deferring:
            self.flush_deferred()

    def deferring(self) -> bool:
        """Return True if this thread's flushes may be deferred to the next receive."""
        return bool(getattr(self._local, "deferring", False))

    def kept_slot(self) -> KeptSends:
        """Return this thread's kept sends (a worker hands it to a :class:`KeptSendsWatcher`)."""
        slot: KeptSends | None = getattr(self._local, "kept", None)
        if slot is None:
            slot = self._local.kept = KeptSends()
        return slot

    def kept_count(self) -> int:
        """Return how many channel sends this thread keeps for its next receive."""
        slot: KeptSends | None = getattr(self._local, "kept", None)
        messages = slot.messages if slot is not None else None
        return len(messages) if messages else 0

    def take_deferred(self) -> list[tuple[Channel, dict[str, Any]]]:
        """Return (and forget) the channel sends kept for the next receive."""
        slot: KeptSends | None = getattr(self._local, "kept", None)
        return slot.take() if slot is not None else []

    def flush_deferred(self) -> None:
        """Send the kept channel sends now (the worker is stopping, or cannot combine them)."""
        deferred = self.take_deferred()
        if deferred:
            self.send_now(list(deferred))

    def report(
        self,
        sent: Sequence[tuple[Channel, dict[str, Any]]],
        results: Sequence[BaseException | None],
    ) -> None:
        """Act on the outcomes of sends made in one batch: retry full channels, log the rest."""
        for (sender, message), result in zip(sent, results, strict=True):
            if result is None:
                continue
            full = getattr(sender.channel_layer, "ChannelFull", None)
            if full is not None and isinstance(result, full):
                self._send_with_backoff(sender, message)
            else:
                logger.error(
                    "Could not send a buffered message to %r; dropping it",
                    sender,
                    exc_info=result,
                )

    def send_now(self, messages: list[tuple[Channel | Group, dict[str, Any]]]) -> None:
        """Send ``messages`` in order (batched where possible), retrying full channels."""
        for run in _batches(messages):
            if len(run) == 1:
                self._send_with_backoff(*run[0])
            else:
                self._send_batch(run)

    def _send_batch(self, run: list[tuple[Channel | Group, dict[str, Any]]]) -> None:
        # One layer call for consecutive channel sends; full ones are retried one by one.
        layer = run[0][0].channel_layer
        try:
            results = layer.send_many([(sender.name, message) for sender, message in run])
        except Exception:
            logger.exception(
                "send_many failed for %d buffered messages; sending them one by one", len(run)
            )
            for sender, message in run:
                self._send_with_backoff(sender, message)
            return
        self.report(run, results)  # type: ignore[arg-type]

    def _send_with_backoff(self, sender: Channel | Group, message: dict[str, Any]) -> None:
        layer = sender.channel_layer
        full = getattr(layer, "ChannelFull", None)
        for attempt in range(len(self.retry_delays) + 1):
            try:
                sender.send(message, immediately=True)
                return
            except Exception as exc:
                if full is None or not isinstance(exc, full):
                    logger.exception("Could not send a buffered message to %r; dropping it", sender)
                    return
                if attempt == len(self.retry_delays):
                    break
                delay = self.retry_delays[attempt]
                logger.warning("%r is full; retrying the send in %.2fs", sender, delay)
                self.sleep_fn(delay)
        logger.error(
            "%r stayed full for %.1fs; dropped a message sent by the consumer. Its reader is "
            "too slow or gone; raise the layer's capacity if this is expected.",
            sender,
            sum(self.retry_delays),
        )


def _deferrable(messages: list[tuple[Channel | Group, dict[str, Any]]]) -> bool:
    """True if ``messages`` are all channel sends on one layer that can combine them."""
    from channels.channel import Channel

    layer = messages[0][0].channel_layer
    return _combines_send_and_receive(layer) and all(
        isinstance(sender, Channel) and sender.channel_layer is layer for sender, _m in messages
    )


def _combines_send_and_receive(layer: Any) -> bool:
    """True if ``layer`` sends and receives in one call (its own ``send_many_and_receive``).

    The base class's version only calls ``send_many`` and then ``receive``: keeping
    sends for it gains no round trip, and a failed receive would look like lost sends.
    """
    method = getattr(layer, "send_many_and_receive", None)
    if not callable(method):
        return False
    return getattr(method, "__func__", None) is not BaseChannelLayer.send_many_and_receive


def _batches(
    messages: list[tuple[Channel | Group, dict[str, Any]]],
) -> Iterator[list[tuple[Channel | Group, dict[str, Any]]]]:
    """Split buffered sends into runs that can go out as one ``send_many`` call.

    A run is consecutive channel sends on one layer that offers ``send_many``;
    every group send, and every send on a layer without it, is a run of its own.
    """
    from channels.channel import Channel

    run: list[tuple[Channel | Group, dict[str, Any]]] = []
    for sender, message in messages:
        batchable = isinstance(sender, Channel) and callable(
            getattr(sender.channel_layer, "send_many", None)
        )
        if run and not (batchable and sender.channel_layer is run[0][0].channel_layer):
            yield run
            run = []
        run.append((sender, message))
        if not batchable:
            yield run
            run = []
    if run:
        yield run


pending_message_store = PendingMessageStore()


def _connect_signals() -> None:
    from channels.signals import consumer_finished, consumer_started

    consumer_started.connect(pending_message_store.prepare, dispatch_uid="channels.prepare")
    consumer_finished.connect(pending_message_store.send_and_flush, dispatch_uid="channels.flush")


_connect_signals()
