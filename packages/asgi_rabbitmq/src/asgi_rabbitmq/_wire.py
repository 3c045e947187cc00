"""Make pika write to the socket in fewer, larger system calls.

How this works
--------------
pika's ``BlockingConnection`` hands every AMQP frame to its transport
separately, and the transport only writes when its I/O loop next reports the
socket writable, one ``send`` per frame. A publish is three frames (method,
header, body), so each costs two poll round trips and three ``send`` calls,
and on loopback each ``send`` runs the broker's side of TCP too. On a small
machine that is most of the time a message takes.

:func:`streamline` changes one connection, in place, so that:

* the frames of one call (a whole publish) are joined into one write;
* a write to an empty buffer is sent at once, with a non-blocking ``send``;
  what the socket does not take (or any error) goes through pika's own
  buffering, so pika still sees and reports a broken connection itself;
* when pika does flush its buffer, it sends all of it in one call;
* :meth:`Wire.corked` holds back several fire-and-forget frames (a consumer
  cancel and an ack) and sends them in one write.

Only plaintext connections are changed (TLS transports buffer differently),
and only when the pika internals used here look as expected; otherwise the
connection is left as it is and works exactly as before, just slower.
"""

from __future__ import annotations

import contextlib
import logging
import types
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import pika
from pika.adapters.utils import io_services_utils

__all__ = ["Wire", "streamline"]

logger = logging.getLogger(__name__)

_PLAINTEXT = getattr(io_services_utils, "_AsyncPlaintextTransport", None)
#: Largest backlog (bytes) joined into one ``send`` when pika flushes its buffer.
_JOIN_AT_MOST = 256 * 1024


def _joined_output(impl: Any) -> Any:
    emit = impl._adapter_emit_data

    def output_marshaled_frames(self: Any, marshaled_frames: Sequence[bytes]) -> None:
        data = marshaled_frames[0] if len(marshaled_frames) == 1 else b"".join(marshaled_frames)
        self.bytes_sent += len(data)
        self.frames_sent += len(marshaled_frames)
        emit(data)

    return types.MethodType(output_marshaled_frames, impl)


class Wire:
    """The streamlined write path of one connection; see :func:`streamline`."""

    def __init__(self, transport: Any) -> None:
        self._buffered_write = transport.write
        self._transport = transport
        self._sock = transport._sock
        self._buffers: deque[bytes] = transport._tx_buffers
        self._active = transport._STATE_ACTIVE
        self._corked: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        """Send ``data`` now if pika has nothing buffered, else buffer it behind the rest."""
        if self._corked is not None:
            self._corked.append(data)
            return
        if self._transport._state == self._active and not self._buffers and data:
            try:
                sent = self._sock.send(data)
            except OSError:
                # Would block, or a broken socket: leave it to pika's own path,
                # which reports a failure the way the rest of pika expects.
                sent = 0
            if sent >= len(data):
                return
            data = data[sent:]
        self._buffered_write(data)

    @contextlib.contextmanager
    def corked(self) -> Iterator[None]:
        """Hold back writes made inside the block and send them as one.

        Only for operations that wait for no reply (acks, cancels with
        ``nowait``): a request held back here would never be answered.
        """
        if self._corked is not None:
            yield
            return
        held: list[bytes] = []
        self._corked = held
        try:
            yield
        finally:
            self._corked = None
            if held:
                self.write(b"".join(held))


def _joined_produce(transport: Any) -> Any:
    produce = transport._produce
    buffers: deque[bytes] = transport._tx_buffers

    def joined_produce() -> None:
        # Join only a modest backlog: re-joining a large one after each partial
        # send would copy it over and over.
        if len(buffers) > 1 and sum(map(len, buffers)) <= _JOIN_AT_MOST:
            joined = b"".join(buffers)
            buffers.clear()
            buffers.append(joined)
        produce()

    return joined_produce


def streamline(connection: pika.BlockingConnection) -> Wire | None:
    """Make ``connection`` write whole calls at once; return None if it was left as is."""
    impl: Any = getattr(connection, "_impl", None)
    transport: Any = getattr(impl, "_transport", None)
    if _PLAINTEXT is None or impl is None or type(transport) is not _PLAINTEXT:
        return None
    needed = (
        hasattr(impl, "_adapter_emit_data")
        and hasattr(impl, "bytes_sent")
        and hasattr(impl, "frames_sent")
        and isinstance(getattr(transport, "_tx_buffers", None), deque)
        and isinstance(getattr(transport, "_STATE_ACTIVE", None), int)
        and hasattr(transport, "_state")
        and hasattr(transport, "_sock")
        and callable(getattr(transport, "_produce", None))
    )
    if not needed:
        logger.debug("pika internals differ from what asgi_rabbitmq expects; not streamlining")
        return None
    wire = Wire(transport)
    impl._output_marshaled_frames = _joined_output(impl)
    transport._produce = _joined_produce(transport)
    transport.write = wire.write
    return wire
