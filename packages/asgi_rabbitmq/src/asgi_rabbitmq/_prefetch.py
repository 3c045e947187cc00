"""Read a process-specific queue in batches: one consume for up to PREFETCH messages.

Why
---
A queue for an ``x!`` prefix has one reader, the process that owns the prefix
(Daphne reading its responses, say). A plain receive takes one message per
round trip (``basic.get``); a broadcast to a thousand of this process's
sockets would cost a thousand round trips. When a ``basic.get`` on such a
queue reports more messages behind the one it returned, :func:`drain` opens a
consumer on a separate channel whose prefetch is :data:`PREFETCH`, takes what
the broker delivers, cancels (undelivered ones go back to the queue) and
acknowledges them all at once. The messages wait in a :class:`LocalBuffer`
and later receives take them from there, oldest first, without touching the
broker.

Trade-offs, the same as asgi_redis's prefetch on ``x!`` prefixes: buffered
messages no longer count against the queue's capacity, and one that expires in
the buffer is dropped here (by its send timestamp) rather than dead-lettered,
so it does not evict its channel from groups. Normal and ``?`` channels are
never prefetched: other processes may be waiting on them.
"""

from __future__ import annotations

import time
from typing import Any

import pika
from asgiref.prefetch import PrefetchBuffer

from ._link import Link

__all__ = ["PREFETCH", "Buffered", "LocalBuffer", "drain"]

#: Most messages one drain takes from a queue.
PREFETCH = 64
#: Longest wait for the deliveries a drain expects (the broker sends them at once).
_DRAIN_WAIT = 0.2
#: A pause this long with no new delivery ends a drain early.
_QUIET = 0.01

#: (routing key, body, send time in ms or 0)
Buffered = tuple[str, bytes, int]


class LocalBuffer:
    """Messages taken from ``x!`` queues ahead of their receive, per channel key.

    A thin face on asgiref's shared :class:`~asgiref.prefetch.PrefetchBuffer`:
    entries carry their key (receives decode with it) and expire by the send
    timestamp the layer puts on every message.
    """

    def __init__(self, expiry_ms: int) -> None:
        self.expiry_ms = expiry_ms
        self._buffer: PrefetchBuffer[tuple[str, Buffered]] = PrefetchBuffer(self._live)

    def _live(self, item: tuple[str, Buffered], now_ms: int) -> bool:
        sent_ms = item[1][2]
        return not sent_ms or now_ms - sent_ms <= self.expiry_ms

    def add(self, key: str, entries: list[Buffered]) -> None:
        """Keep ``entries`` (oldest first) for later receives on ``key``."""
        self._buffer.add(key, [(key, entry) for entry in entries])

    def take(self, keys: list[str]) -> tuple[str, Buffered] | None:
        """Return ``(key, entry)``: the oldest live entry of the first key that has one."""
        return self._buffer.take(keys, int(time.time() * 1000))

    def count(self, key: str) -> int:
        """Return how many entries wait for ``key``."""
        return self._buffer.count(key)

    def clear(self) -> None:
        """Forget every buffered message (``flush``)."""
        self._buffer.clear()


def drain(link: Link, queue: str, expected: int) -> list[Buffered]:
    """Take up to ``min(expected, PREFETCH)`` messages from ``queue``, oldest first."""
    want = min(expected, PREFETCH)
    if want <= 0:
        return []
    channel = link.bulk(PREFETCH)
    deliveries: list[tuple[Any, pika.BasicProperties, bytes]] = []

    def on_message(_channel: Any, method: Any, props: pika.BasicProperties, body: bytes) -> None:
        deliveries.append((method, props, body))

    tag = channel.basic_consume(queue, on_message, auto_ack=False)
    try:
        deadline = time.monotonic() + _DRAIN_WAIT
        while len(deliveries) < want:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            before = len(deliveries)
            link.connection.process_data_events(time_limit=min(remaining, _QUIET))
            if deliveries and len(deliveries) == before:
                break  # a quiet moment after some deliveries: the rest expired or is gone
    finally:
        # Deliveries not yet handed to on_message are rejected back to the queue.
        channel.basic_cancel(tag)
    if deliveries:
        channel.basic_ack(deliveries[-1][0].delivery_tag, multiple=True)
    return [(method.routing_key, body, props.timestamp or 0) for method, props, body in deliveries]
