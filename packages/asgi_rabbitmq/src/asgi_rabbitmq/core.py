"""The RabbitMQ channel layer: channels as queues, groups as exchanges, on pika.

How this works
--------------
Names map onto broker objects as described in :mod:`asgi_rabbitmq._names`.
The timing and capacity rules are all enforced by the broker, not by this
process, so they hold across every process that shares the broker:

* Expiry: each message carries a per-message TTL (``expiration``) of
  ``expiry`` seconds and every channel queue has the same ``x-message-ttl``
  (messages relayed through a group lose their own TTL on dead-lettering).
* Capacity: every channel queue has ``x-max-length`` set to the channel's
  capacity and ``x-overflow: reject-publish``; with publisher confirms the
  broker nacks a publish to a full queue, which ``send`` raises as
  ``ChannelFull``. The count is the broker's, so it is exact with any number
  of senders.
* Idle objects: channel queues have ``x-expires`` of ``queue_expiry`` seconds
  (reads and declares renew it); membership relay queues have ``x-expires`` of
  ``group_expiry`` (each ``group_add`` renews it); group exchanges are
  auto-delete, so they vanish with their last membership.
* Eviction: a message that expires unread is dead-lettered to the
  ``expired`` queue. Group operations drain that queue and drop the channel
  from the group the message came through plus every group this process added
  it to (unless it was re-added after the message died).

A receive first polls each queue with ``basic.get`` (auto-ack, so a message
is never handed out twice), starting at a rotating position for fairness.
When a poll of this process's own ``x!`` queue shows a backlog, up to 64
messages are drained at once and served from memory (:mod:`._prefetch`). A
blocking receive that finds nothing consumes from all the queues with a
channel-wide prefetch of one, takes the first delivery, cancels the consumers
and only then acknowledges it; a delivery that is never acknowledged goes back
to its queue, so nothing is lost or duplicated by a timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import pika
import pika.exceptions
from asgiref.base_layer import DEFAULT_MESSAGE_SIZE_LIMIT, BaseChannelLayer, CapacityPattern
from asgiref.base_layer import copy_message as _copy_message
from asgiref.layer_statistics import CounterTable

from ._codec import Codec, DecodeError
from ._link import (
    CONNECTION_ERRORS,
    Link,
    QueueArgumentsMismatchError,
    RabbitmqConnectionError,
    RabbitmqLayerError,
    parse_urls,
    redact,
)
from ._names import Names
from ._prefetch import LocalBuffer, drain
from ._roster import Roster

__all__ = ["DEFAULT_URL", "RabbitmqChannelLayer"]

logger = logging.getLogger(__name__)

DEFAULT_URL = "amqp://guest:guest@localhost:5672/%2F"
_T = TypeVar("_T")
_Result = tuple[str, dict[str, Any]] | tuple[None, None]
_TWO_DAYS_MS = 2 * 86400 * 1000
#: Dead messages kept for eviction: bounded, and dropped after ten minutes.
_EXPIRED_QUEUE_ARGUMENTS = {
    "x-max-length": 10_000,
    "x-max-length-bytes": 64 * 1024 * 1024,
    "x-message-ttl": 600_000,
    "x-expires": _TWO_DAYS_MS,
}
_REGISTRY_QUEUE_ARGUMENTS = {"x-max-length": 1_000_000, "x-expires": _TWO_DAYS_MS}
#: Prune the record of declared objects when it holds more entries than this.
_PRUNE_AT = 20_000
#: A thread in "consume" mode still polls with basic.get every this many receives.
_POLL_EVERY = 8
#: Seconds to wait for the broker to confirm consumer cancels.
_CANCEL_TIMEOUT = 10.0


class RabbitmqChannelLayer(BaseChannelLayer):
    """ASGI channel layer on RabbitMQ (one node or an Erlang cluster).

    Thread-safe: every thread gets its own AMQP connection. Provides the
    ``groups``, ``flush``, ``statistics`` and ``async`` extensions.
    """

    extensions = ["groups", "flush", "statistics", "async"]

    def __init__(
        self,
        url: str | Sequence[str] = DEFAULT_URL,
        expiry: float = 60,
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: Mapping[CapacityPattern, int] | None = None,
        symmetric_encryption_keys: Iterable[str | bytes] | None = None,
        prefix: str = "asgi",
        receive_timeout: float = 5.0,
        queue_expiry: float = 600,
        message_size_limit: int = DEFAULT_MESSAGE_SIZE_LIMIT,
        async_threads: int = 8,
        time_fn: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            message_size_limit=message_size_limit,
            time_fn=time_fn,
        )
        for name, value in (("receive_timeout", receive_timeout), ("queue_expiry", queue_expiry)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{name} is {value!r}; it must be a positive number of seconds.")
        if queue_expiry < expiry:
            raise ValueError(
                f"queue_expiry ({queue_expiry!r}) is shorter than expiry ({expiry!r}); idle "
                "queues must outlive their messages. Raise queue_expiry."
            )
        if (
            isinstance(async_threads, bool)
            or not isinstance(async_threads, int)
            or async_threads < 1
        ):
            raise ValueError(f"async_threads is {async_threads!r}; it must be a positive int.")
        self._params = parse_urls(url)
        urls = [url] if isinstance(url, str) else list(url)
        self.url_description = ", ".join(redact(item) for item in urls)
        self.names = Names(prefix)
        self.codec = Codec(symmetric_encryption_keys)
        self.receive_timeout = receive_timeout
        self.queue_expiry = queue_expiry
        self.async_threads = async_threads
        self._expiry_ms = max(1, int(expiry * 1000))
        self._expiration = str(self._expiry_ms)
        self._record_properties = pika.BasicProperties(
            expiration=str(max(1, int(max(queue_expiry, group_expiry) * 1000)))
        )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._links: set[Link] = set()
        self._declared: dict[str, float] = {}
        #: channel key -> when this process last declared its queue (for statistics)
        self._channel_keys: dict[str, float] = {}
        #: Messages drained ahead of their receive from this process's ``x!`` queues.
        self._buffered = LocalBuffer(self._expiry_ms)
        self._counters = CounterTable(self.time_fn)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.roster = Roster(self)

    # Connections --------------------------------------------------------------

    def _link(self) -> Link:
        link: Link | None = getattr(self._local, "link", None)
        if link is not None and not link.probe():
            logger.warning(
                "RabbitMQ connection to %s went away; reconnecting", self.url_description
            )
            self._drop(link)
            link = None
        if link is None:
            link = Link(self._params, self.url_description)
            with self._lock:
                # Connections of threads that have ended are closed here, by the
                # next thread that connects (nobody else can be using them).
                dead = [item for item in self._links if not item.owner.is_alive()]
                self._links.difference_update(dead)
                self._links.add(link)
            for item in dead:
                item.close()
            self._local.link = link
        return link

    def _drop(self, link: Link) -> None:
        link.close()
        with self._lock:
            self._links.discard(link)
            self._declared.clear()
        if getattr(self._local, "link", None) is link:
            self._local.link = None

    def call(self, op: Callable[[Link], _T]) -> _T:
        """Run ``op`` with this thread's link; map broker failures to clear errors.

        A missing queue or exchange (deleted by expiry, ``flush`` or a broker
        restart) makes the broker close the channel with 404; the declarations
        are then forgotten and ``op`` runs once more, declaring them again.
        """
        for attempt in (0, 1):
            link = self._link()
            try:
                if link.pending_reopen or not link.main.is_open:
                    link.reopen_main()
                link.reopen_admin()
                link.last_used = time.monotonic()
                return op(link)
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code == 406:
                    self.forget()
                    raise QueueArgumentsMismatchError(
                        f"RabbitMQ refused a declaration: {exc.reply_text}. Another process "
                        "uses this prefix with other settings (expiry, capacity, "
                        "queue_expiry); give the layers the same settings, or delete the "
                        "old queues."
                    ) from exc
                if exc.reply_code != 404 or attempt:
                    raise RabbitmqLayerError(f"RabbitMQ closed the channel: {exc!r}") from exc
                logger.debug("broker object missing (%s); declaring again", exc.reply_text)
                self.forget()
            except pika.exceptions.ChannelWrongStateError as exc:
                if attempt:
                    raise RabbitmqLayerError(f"RabbitMQ channel unusable: {exc!r}") from exc
            except CONNECTION_ERRORS as exc:
                self._drop(link)
                raise RabbitmqConnectionError(
                    f"Lost the connection to RabbitMQ at {self.url_description} ({exc!r}); "
                    "the layer reconnects by itself on the next call."
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close every connection and the async thread pool (the layer stays usable)."""
        with self._lock:
            links = list(self._links)
            self._links.clear()
            executor, self._executor = self._executor, None
        for link in links:
            link.close()
        self._local = threading.local()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    # Declarations -------------------------------------------------------------

    def forget(self) -> None:
        """Forget which objects were declared, so they are declared again."""
        with self._lock:
            self._declared.clear()

    def is_fresh(self, name: str) -> bool:
        """Return True if ``name`` was declared recently enough to skip declaring it."""
        declared = self._declared.get(name)
        return declared is not None and time.monotonic() - declared < self.queue_expiry / 2

    def mark(self, name: str) -> None:
        """Remember that ``name`` was just declared (forgetting long-stale entries)."""
        now = time.monotonic()
        with self._lock:
            self._declared[name] = now
            if len(self._declared) > _PRUNE_AT:
                # Reply channels come and go; keep only entries still fresh enough
                # to be used, so a long-running process does not grow forever.
                cutoff = now - self.queue_expiry / 2
                self._declared = {k: v for k, v in self._declared.items() if v >= cutoff}
                self._channel_keys = {k: v for k, v in self._channel_keys.items() if v >= cutoff}
                if len(self._declared) > _PRUNE_AT:
                    self._declared.clear()
                    self._channel_keys.clear()

    def unmark(self, name: str) -> None:
        """Forget that ``name`` was declared."""
        with self._lock:
            self._declared.pop(name, None)

    def ensure_infrastructure(self, link: Link) -> None:
        """Declare the shared exchanges and queues every layer process uses."""
        names = self.names
        if self.is_fresh(names.local_exchange):
            return
        admin = link.admin
        # These shared queues have fixed arguments (not derived from the layer's
        # settings), so processes configured differently can still share them.
        # Active processes re-declare them, renewing their x-expires.
        admin.exchange_declare(names.local_exchange, "topic", auto_delete=True)
        admin.exchange_declare(names.expired_exchange, "fanout", auto_delete=True)
        admin.queue_declare(names.expired_queue, arguments=_EXPIRED_QUEUE_ARGUMENTS)
        admin.queue_bind(names.expired_queue, names.expired_exchange)
        admin.queue_declare(names.registry_queue, arguments=_REGISTRY_QUEUE_ARGUMENTS)
        self.mark(names.local_exchange)

    def register(self, link: Link, kind: str, name: str) -> None:
        """Record a created object in the registry queue so ``flush`` can delete it.

        The record lives as long as the object can (it is re-recorded whenever
        this process re-declares the object).
        """
        link.main.basic_publish(
            "", self.names.registry_queue, f"{kind} {name}".encode("ascii"), self._record_properties
        )

    def ensure_queue(self, link: Link, key: str) -> str:
        """Declare the queue of channel ``key`` (and its binding for ``x!``); return its name."""
        name = self.names.queue(key)
        if self.is_fresh(name):
            return name
        self.ensure_infrastructure(link)
        link.admin.queue_declare(
            name,
            arguments={
                "x-max-length": self.get_capacity(key),
                "x-overflow": "reject-publish",
                "x-message-ttl": self._expiry_ms,
                "x-expires": max(1, int(self.queue_expiry * 1000)),
                "x-dead-letter-exchange": self.names.expired_exchange,
            },
        )
        if key.endswith("!"):
            link.admin.queue_bind(name, self.names.local_exchange, self.names.binding_key(key))
        self.register(link, "q", name)
        self.mark(name)
        with self._lock:
            self._channel_keys[key] = time.monotonic()
        return name

    # Messages -----------------------------------------------------------------

    def encode(self, message: dict[str, Any]) -> bytes:
        """Validate, pack, size-check and (optionally) encrypt ``message``."""
        copied, _estimate = _copy_message(message)
        packed = self.codec.encode(copied)
        self.check_size(len(packed))
        return self.codec.seal(packed)

    def _message_properties(self) -> pika.BasicProperties:
        # The timestamp is in milliseconds (AMQP leaves its unit to the application).
        return pika.BasicProperties(expiration=self._expiration, timestamp=int(time.time() * 1000))

    def _decode(self, key: str, routing_key: str, body: bytes) -> _Result:
        try:
            message = self.codec.decode(body)
        except DecodeError:
            logger.warning("Dropping an unreadable message from %s", key, exc_info=True)
            return None, None
        return self.names.channel_from_delivery(key, routing_key), message

    # Core API -----------------------------------------------------------------

    def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send ``message`` to ``channel``; raise ChannelFull if it is at capacity."""
        self.require_channel_name(channel)
        body = self.encode(message)
        key = self.non_local_name(channel)
        exchange, routing_key = self.names.route(channel)
        properties = self._message_properties()

        def publish(link: Link) -> None:
            queue = self.ensure_queue(link, key)
            try:
                link.main.basic_publish(exchange, routing_key, body, properties, mandatory=True)
            except pika.exceptions.UnroutableError:
                # The queue was deleted (expiry, flush, restart) since we declared it.
                self.unmark(queue)
                self.ensure_queue(link, key)
                link.main.basic_publish(exchange, routing_key, body, properties, mandatory=True)

        try:
            self.call(publish)
        except pika.exceptions.NackError as exc:
            with self._lock:
                self._counters.channel_full(key)
            raise self.ChannelFull(
                f"Channel {channel!r} holds {self.get_capacity(key)} messages, its capacity; "
                "wait for readers to catch up or raise the capacity."
            ) from exc
        except pika.exceptions.UnroutableError as exc:
            raise RabbitmqLayerError(
                f"RabbitMQ could not route a message to {channel!r} even after declaring "
                "its queue; is another process flushing this prefix?"
            ) from exc
        with self._lock:
            self._counters.message(key)

    def receive(self, channels: Iterable[str], block: bool = False) -> _Result:
        """Return ``(channel, message)`` from one of ``channels``, or ``(None, None)``.

        With ``block=True`` wait up to ``receive_timeout`` seconds for a message.
        """
        names = list(dict.fromkeys(self.require_receive_names(channels)))
        if not names:
            return None, None
        found = self._take_buffered(names)
        if found[0] is not None:
            return found
        deadline = time.monotonic() + self.receive_timeout
        # A thread whose blocking receives keep finding empty queues (a reply
        # reader, an idle worker) goes straight to consuming, saving a round trip
        # per message; every few calls it polls again to notice a backlog.
        waits: int = getattr(self._local, "waits", 0) if block else 0
        while True:
            if waits % _POLL_EVERY == 0:
                found = self.call(functools.partial(self._get_first, names))
                if found[0] is not None or not block:
                    self._local.waits = 0
                    return found
            waits += 1
            self._local.waits = waits
            found = self.call(functools.partial(self._consume_first, names, deadline))
            if found[0] is not None or time.monotonic() >= deadline:
                return found

    def _get_first(self, names: list[str], link: Link) -> _Result:
        count = len(names)
        start = link.rotation % count
        link.rotation += 1
        for offset in range(count):
            key = names[(start + offset) % count]
            queue = self.ensure_queue(link, key)
            while True:
                method, _props, body = link.admin.basic_get(queue, auto_ack=True)
                if method is None:
                    break
                if key.endswith("!") and method.message_count:
                    # A backlog on this process's own queue: take a batch of it now.
                    self._buffered.add(key, drain(link, queue, int(method.message_count)))
                found = self._decode(key, method.routing_key, body)
                if found[0] is None:
                    # Unreadable: the next message is the oldest buffered one, if any.
                    found = self._take_buffered([key])
                if found[0] is not None:
                    return found
        return None, None

    def _take_buffered(self, names: list[str]) -> _Result:
        while (taken := self._buffered.take(names)) is not None:
            key, (routing_key, body, _sent_ms) = taken
            found = self._decode(key, routing_key, body)
            if found[0] is not None:
                return found
        return None, None

    def _consume_first(self, names: list[str], deadline: float, link: Link) -> _Result:
        deliveries: list[tuple[str, Any, bytes]] = []
        keys: dict[str, str] = {}

        # Consumers started without waiting for ConsumeOk (one write for all of
        # them, no round trip) when this pika allows it; else one round trip each.
        nowait = link.can_consume_without_waiting()

        def on_message(
            _channel: Any, method: Any, _props: pika.BasicProperties, body: bytes
        ) -> None:
            deliveries.append((keys[method.consumer_tag], method, body))
            if nowait:
                link.stop_waiting()

        quick_cancel = False
        try:
            if nowait:
                queues = [(self.ensure_queue(link, key), key) for key in names]
                with link.corked():
                    for queue, key in queues:
                        keys[link.consume_without_waiting(queue, on_message)] = key
            else:
                for key in names:
                    queue = self.ensure_queue(link, key)
                    keys[link.main.basic_consume(queue, on_message, auto_ack=False)] = key
            while not deliveries:
                link.raise_if_main_closed()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                link.connection.process_data_events(time_limit=min(remaining, 1.0))
            quick_cancel = len(deliveries) == 1 and link.can_cancel_without_waiting()
        finally:
            # Cancelling an auto_ack=False consumer nacks anything not yet dispatched.
            if not quick_cancel and link.main.is_open and keys:
                if nowait:
                    link.cancel_and_wait(list(keys), _CANCEL_TIMEOUT)
                else:
                    for tag in list(keys):
                        link.main.basic_cancel(tag)
        if not deliveries:
            return None, None
        key, method, body = deliveries[0]
        # The cancels go out before the ack, in the same write: while the one
        # delivery is unacknowledged the broker cannot deliver another.
        with link.corked():
            if quick_cancel:
                link.cancel_without_waiting(list(keys))
            link.main.basic_ack(method.delivery_tag)
            for _key, extra, _body in deliveries[1:]:
                link.main.basic_nack(extra.delivery_tag, requeue=True)
        return self._decode(key, method.routing_key, body)

    async def receive_async(self, channels: Iterable[str]) -> _Result:
        """Await a message on any of ``channels`` for up to ``receive_timeout`` seconds."""
        names = self.require_receive_names(channels)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.async_executor(), functools.partial(self.receive, names, True)
        )

    def async_executor(self) -> concurrent.futures.ThreadPoolExecutor:
        """Return the thread pool that serves ``receive_async`` (made on first use)."""
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.async_threads, thread_name_prefix="asgi-rabbitmq-receive"
                )
            return self._executor

    def new_channel(self, pattern: str) -> str:
        """Return a new ``?`` channel name starting with ``pattern``."""
        self.require_new_channel_pattern(pattern)
        return pattern + self.random_suffix()

    # Groups (see _roster.py) --------------------------------------------------

    def group_add(self, group: str, channel: str) -> None:
        """Add ``channel`` to ``group``, or renew its membership."""
        self.roster.add(self.require_group_name(group), self.require_channel_name(channel))

    def group_discard(self, group: str, channel: str) -> None:
        """Remove ``channel`` from ``group`` if it is a member."""
        self.roster.discard(self.require_group_name(group), self.require_channel_name(channel))

    def group_channels(self, group: str) -> list[str]:
        """Return the members of ``group``."""
        return self.roster.members(self.require_group_name(group))

    def send_group(self, group: str, message: dict[str, Any]) -> None:
        """Send ``message`` to every member of ``group``; full members are skipped."""
        self.require_group_name(group)
        body = self.encode(message)
        self.roster.evict_expired(force=False)
        exchange = self.names.group_exchange(group)
        properties = self._message_properties()

        def publish(link: Link) -> None:
            try:
                link.main.basic_publish(exchange, "", body, properties)
            except pika.exceptions.NackError:
                logger.debug("a member of group %s was full", group)
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != 404:
                    raise
                link.reopen_main()  # No exchange: the group has no members.

        self.call(publish)
        with self._lock:
            self._counters.total.messages.add(self.time_fn())

    # Flush and statistics -----------------------------------------------------

    def flush(self) -> None:
        """Delete every queue, group and message of this prefix, and reset counters."""
        self.call(self.roster.flush)
        self.forget()
        self._buffered.clear()
        with self._lock:
            self._channel_keys.clear()
            self._counters.clear()
        self.roster.clear_local()

    def _pending(self, link: Link, key: str) -> tuple[int, float]:
        """Return the broker's message count of ``key`` and the age of its oldest message.

        The age comes from peeking at the head message (fetched unacknowledged
        and put straight back), whose ``timestamp`` property holds the send time
        in milliseconds. The broker requeues asynchronously, so wait (briefly)
        until the queue shows the message again before returning.
        """
        queue = self.names.queue(key)
        admin = link.admin
        try:
            method, props, _body = admin.basic_get(queue, auto_ack=False)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 404:
                raise
            link.reopen_admin()
            return 0, 0.0
        if method is None:
            return 0, 0.0
        count = int(method.message_count) + 1
        admin.basic_nack(method.delivery_tag, requeue=True)
        for _ in range(50):
            if admin.queue_declare(queue, passive=True).method.message_count >= count:
                break
            time.sleep(0.001)
        sent_ms = props.timestamp or 0
        return count, max(0.0, time.time() - sent_ms / 1000) if sent_ms else 0.0

    def channel_statistics(self, channel: str) -> dict[str, int | float]:
        """Return counters plus the broker's pending count and oldest age for ``channel``."""
        self.require_channel_name(channel)
        key = self.non_local_name(channel)
        pending, max_age = self.call(lambda link: self._pending(link, key))
        with self._lock:
            stats = self._counters.channel_dict(key)
        stats["messages_pending"] = pending
        stats["messages_max_age"] = max_age
        return stats

    def global_statistics(self) -> dict[str, int | float]:
        """Return counters plus pending figures over every queue this process declared."""
        with self._lock:
            keys = sorted(self._channel_keys)
        figures = self.call(lambda link: [self._pending(link, key) for key in keys])
        with self._lock:
            stats = self._counters.global_dict()
        stats["messages_pending"] = sum(count for count, _age in figures)
        stats["messages_max_age"] = max((age for _count, age in figures), default=0.0)
        return stats

    def __repr__(self) -> str:
        return (
            f"<asgi_rabbitmq.RabbitmqChannelLayer url={self.url_description!r} "
            f"prefix={self.names.prefix!r}>"
        )
