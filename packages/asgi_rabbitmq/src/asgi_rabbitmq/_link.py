"""One thread's AMQP connection, and the errors the layer raises for broker trouble.

How this works
--------------
pika's ``BlockingConnection`` must only be used from the thread that made it,
so the layer keeps one :class:`Link` per thread (a ``threading.local``). A
link holds two channels:

* ``main``: publisher confirms on (so a publish returns only once the broker
  took it, and a full queue under ``x-overflow: reject-publish`` comes back as
  a nack, which is ``ChannelFull``) and a channel-wide prefetch of one (so a
  blocking receive that consumes from several queues holds at most one
  unacknowledged message).
* ``admin``: no confirms, no prefetch limit; used for passive declares and
  deletes, which close their channel when the object is missing.

Each connection writes through :mod:`asgi_rabbitmq._wire`, which sends the
frames of one call in one write, at once.

When the broker goes away (restart, network), the next operation on the link
fails; the layer throws the link away and raises :class:`RabbitmqConnectionError`.
The next call makes a new link, so the layer recovers by itself once the broker
is back. A link idle for a while is probed first (``process_data_events(0)``)
so that the first call after an outage does not fail on a stale socket.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence

import pika
import pika.exceptions
import pika.spec
from pika.adapters.blocking_connection import BlockingChannel

from ._wire import Wire, streamline

__all__ = [
    "CONNECTION_ERRORS",
    "Link",
    "QueueArgumentsMismatchError",
    "RabbitmqConnectionError",
    "RabbitmqLayerError",
    "redact",
]

logger = logging.getLogger(__name__)

#: Seconds a send may wait on a broker that blocks publishers (resource alarm).
BLOCKED_CONNECTION_TIMEOUT = 10.0
#: Probe a link before use when it has been idle this long (seconds).
IDLE_PROBE_AFTER = 1.0

#: Reopen the main channel after this many fire-and-forget consumer cancels.
_MAX_CANCELLED_TAGS = 10_000

#: Exceptions that mean "the connection is gone"; the link must be replaced.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.ConnectionWrongStateError,
    pika.exceptions.StreamLostError,
    OSError,
)


class RabbitmqLayerError(Exception):
    """Base class of this layer's own errors."""


class RabbitmqConnectionError(RabbitmqLayerError, ConnectionError):
    """Raised when the broker cannot be reached; the next call reconnects by itself."""


class QueueArgumentsMismatchError(RabbitmqLayerError):
    """Raised when a queue exists with other arguments (another expiry or capacity)."""


def _nothing() -> None:
    """A timer callback that only ends the current ``process_data_events``."""


def redact(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def parse_urls(url: str | Sequence[str]) -> list[pika.URLParameters]:
    """Return pika connection parameters for one URL or a list (cluster nodes)."""
    urls = [url] if isinstance(url, str) else list(url)
    if not urls:
        raise ValueError("url is an empty list; give 'amqp://user:password@host:5672/vhost'.")
    params = []
    for item in urls:
        if not isinstance(item, str) or not item.startswith(("amqp://", "amqps://")):
            raise ValueError(
                f"url {item!r} is not an AMQP URL; use 'amqp://guest:guest@rabbitmq:5672/%2F' "
                "(or amqps:// for TLS)."
            )
        try:
            parameters = pika.URLParameters(item)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"url {redact(item)!r} is invalid: {exc}") from exc
        if "blocked_connection_timeout" not in urllib.parse.urlsplit(item).query:
            # A broker under a memory or disk alarm blocks publishers; a send must
            # fail rather than hang, so give up on a blocked connection.
            parameters.blocked_connection_timeout = BLOCKED_CONNECTION_TIMEOUT
        params.append(parameters)
    return params


class Link:
    """A connection with a confirming ``main`` channel and an ``admin`` channel."""

    def __init__(self, params: list[pika.URLParameters], description: str) -> None:
        self.description = description
        self.owner = threading.current_thread()
        try:
            self.connection = pika.BlockingConnection(params)
        except CONNECTION_ERRORS as exc:
            raise RabbitmqConnectionError(
                f"Cannot connect to RabbitMQ at {description}: {exc!r}. Is the broker "
                "running and the url right? The layer retries on the next call."
            ) from exc
        #: The faster write path (None when pika's internals are not as expected).
        self.wire = streamline(self.connection)
        try:
            self.main = self._open_main()
            self.admin = self.connection.channel()
        except CONNECTION_ERRORS as exc:
            self.close()
            raise RabbitmqConnectionError(
                f"Lost the connection to RabbitMQ at {description} while opening channels: {exc!r}."
            ) from exc
        #: Channel for draining ``x!`` queues (see _prefetch), opened on first use.
        self._bulk: BlockingChannel | None = None
        self.last_used = time.monotonic()
        self.rotation = 0
        self.cancelled_tags = 0
        self.pending_reopen = False

    def _open_main(self) -> BlockingChannel:
        channel = self.connection.channel()
        channel.confirm_delivery()
        channel.basic_qos(prefetch_count=1, global_qos=True)
        return channel

    @property
    def is_open(self) -> bool:
        """Return True if the connection has not been closed."""
        return bool(self.connection.is_open)

    def probe(self) -> bool:
        """Return True if an idle connection still answers (and service its heartbeats)."""
        now = time.monotonic()
        if now - self.last_used < IDLE_PROBE_AFTER:
            return self.is_open
        self.last_used = now
        try:
            self.connection.process_data_events(0)
        except CONNECTION_ERRORS:
            return False
        return self.is_open

    def corked(self) -> contextlib.AbstractContextManager[None]:
        """Return a context in which fire-and-forget frames are sent as one write."""
        wire: Wire | None = self.wire
        return wire.corked() if wire is not None else contextlib.nullcontext()

    def can_cancel_without_waiting(self) -> bool:
        """Return True if :meth:`cancel_without_waiting` works with this pika."""
        impl = getattr(self.main, "_impl", None)
        return (
            impl is not None
            and isinstance(getattr(self.main, "_consumer_infos", None), dict)
            and isinstance(getattr(impl, "_cancelled", None), set)
        )

    def can_consume_without_waiting(self) -> bool:
        """Return True if :meth:`consume_without_waiting` works with this pika."""
        impl = getattr(self.main, "_impl", None)
        return (
            self.can_cancel_without_waiting()
            and isinstance(getattr(impl, "_consumers", None), dict)
            and callable(getattr(impl, "_send_method", None))
            and callable(getattr(impl, "_generate_consumer_tag", None))
        )

    def consume_without_waiting(self, queue: str, on_message: Callable[..., None]) -> str:
        """Start a consumer of ``queue`` on ``main`` without waiting for ConsumeOk.

        Returns the consumer tag. ``on_message(channel, method, properties, body)``
        runs inside ``process_data_events``. Saves one round trip per consumer;
        several go out in one write inside :meth:`corked`. A missing queue makes
        the broker close the channel instead of answering: see
        :meth:`raise_if_main_closed`. Stop these consumers with
        :meth:`cancel_without_waiting` or :meth:`cancel_and_wait` (the
        BlockingChannel does not know them). Uses pika internals, checked by
        :meth:`can_consume_without_waiting`.
        """
        impl = self.main._impl
        tag: str = impl._generate_consumer_tag()
        impl._consumers[tag] = on_message
        impl._send_method(
            pika.spec.Basic.Consume(queue=queue, consumer_tag=tag, no_ack=False, nowait=True)
        )
        return tag

    def stop_waiting(self) -> None:
        """Make the running ``process_data_events`` return (call it from a consumer callback).

        pika only ends that call early for events of its own BlockingChannel
        consumers; a zero-delay timer is its documented same-thread way to wake it.
        """
        self.connection.call_later(0, _nothing)

    def cancel_and_wait(self, tags: list[str], timeout: float) -> None:
        """Cancel consumers from :meth:`consume_without_waiting`; wait for each CancelOk.

        Until its CancelOk, pika rejects (requeues) any delivery to a cancelled
        consumer, so nothing is held back once this returns. Each CancelOk ends
        the wait at once (:meth:`stop_waiting`), not at the end of a time slice.
        """
        impl = self.main._impl
        for tag in tags:
            impl.basic_cancel(tag, callback=lambda _frame: self.stop_waiting())
        deadline = time.monotonic() + timeout
        while any(tag in impl._consumers for tag in tags):
            self.raise_if_main_closed()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RabbitmqLayerError(
                    f"RabbitMQ at {self.description} did not confirm a consumer cancel within "
                    f"{timeout}s."
                )
            self.connection.process_data_events(time_limit=min(remaining, 1.0))

    def raise_if_main_closed(self) -> None:
        """Raise the broker's reason if it closed ``main`` (e.g. 404 for a missing queue)."""
        if self.main.is_open:
            return
        reason = getattr(self.main, "_closing_reason", None)
        if isinstance(reason, pika.exceptions.ChannelClosed):
            raise reason
        raise pika.exceptions.ChannelWrongStateError("The main channel is closed.")

    def cancel_without_waiting(self, tags: list[str]) -> bool:
        """Cancel consumers of ``main`` without waiting for the broker; return True if done.

        Only safe while this channel holds an unacknowledged delivery: with the
        channel-wide prefetch of one the broker then cannot deliver anything
        else before it processes the cancels, so no reply is worth waiting for.
        This saves one round trip per blocking receive. It uses pika internals
        (checked here); on a pika that lacks them, return False and let the
        caller cancel the ordinary way.
        """
        impl = getattr(self.main, "_impl", None)
        infos = getattr(self.main, "_consumer_infos", None)
        cancelled_set = getattr(impl, "_cancelled", None)
        if impl is None or not isinstance(infos, dict) or not isinstance(cancelled_set, set):
            return False
        for tag in tags:
            impl.basic_cancel(tag)  # No callback: sent with nowait.
            infos.pop(tag, None)
        self.cancelled_tags += len(tags)
        if self.cancelled_tags > _MAX_CANCELLED_TAGS:
            # pika remembers every cancelled tag until the channel closes.
            self.cancelled_tags = 0
            self.pending_reopen = True
        return True

    def reopen_main(self) -> None:
        """Replace the main channel after the broker closed it."""
        if self.main.is_open:
            try:
                self.main.close()
            except pika.exceptions.AMQPError:
                logger.debug("closing a broken main channel failed", exc_info=True)
        self.main = self._open_main()
        self.pending_reopen = False

    def bulk(self, prefetch: int) -> BlockingChannel:
        """Return the draining channel (prefetch ``prefetch`` per consumer), reopened if closed."""
        if self._bulk is None or not self._bulk.is_open:
            self._bulk = self.connection.channel()
            self._bulk.basic_qos(prefetch_count=prefetch)
        return self._bulk

    def reopen_admin(self) -> None:
        """Replace the admin channel after the broker closed it."""
        if not self.admin.is_open:
            self.admin = self.connection.channel()

    def close(self) -> None:
        """Close the connection, ignoring errors (it may already be dead)."""
        try:
            if self.connection.is_open:
                self.connection.close()
        except Exception:
            logger.debug("closing RabbitMQ connection failed", exc_info=True)
