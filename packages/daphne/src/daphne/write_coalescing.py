"""Write a plain TCP connection's output at the end of the reactor turn, not on writability.

Why
---
Twisted's TCP transport never writes in ``write()``: it buffers the bytes and
registers the socket for writability; the next reactor turn's ``epoll_wait``
reports the socket writable, ``doWrite`` sends, and the socket is unregistered
again. For a response that fits in the socket buffer (nearly all of them) that
is two ``epoll_ctl`` calls and a dispatch through Twisted's logging context per
response, and an HTTP response is written in two pieces (head, then body).

A socket whose send buffer has room is writable by definition, so on Twisted's
asyncio reactor this module replaces the transport's ``startWriting`` with
"call ``doWrite`` once, early in the next loop iteration": every piece written
in this turn (the head and body of a response, several WebSocket frames) leaves
in one ``send``, through the reactor's own ``_readOrWrite`` so errors and
closes are handled exactly as on a writability event. Only when the kernel does
not take everything (a slow reader) is the socket registered the usual way,
and Twisted's ordinary flow control takes over until the buffer is empty.

Connections over TLS (whose transport is a protocol wrapper, not a socket) and
other reactors are left as they are.
"""

from __future__ import annotations

import logging
from typing import Any

from twisted.internet import tcp

__all__ = ["WriteCoalescer", "install_write_coalescing"]

logger = logging.getLogger(__name__)


class WriteCoalescer:
    """Flush one TCP transport's buffered output once per loop iteration."""

    __slots__ = ("_loop", "_reactor", "_real_start_writing", "_scheduled", "transport")

    def __init__(self, transport: Any, reactor: Any) -> None:
        self.transport = transport
        self._reactor = reactor
        self._loop = reactor._asyncioEventloop
        self._real_start_writing = transport.startWriting
        self._scheduled = False
        transport.startWriting = self.start_writing

    def start_writing(self) -> None:
        """Schedule one ``doWrite`` instead of registering for writability."""
        if self._scheduled:
            return
        if self.transport in self._reactor._writers:
            # Already waiting for room in the socket buffer: Twisted's own path.
            self._real_start_writing()
            return
        self._scheduled = True
        self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Send what is buffered; register for writability only if some is left."""
        self._scheduled = False
        transport = self.transport
        if not transport.connected:
            return
        self._reactor._readOrWrite(transport, False)
        if transport.connected and (
            transport._tempDataBuffer or len(transport.dataBuffer) > transport.offset
        ):
            logger.debug("Socket buffer full on %s; waiting for writability", transport)
            self._real_start_writing()


def install_write_coalescing(transport: Any, reactor: Any) -> WriteCoalescer | None:
    """Coalesce ``transport``'s writes if it is a plain TCP socket on the asyncio reactor."""
    if type(transport) is not tcp.Server:
        return None
    if not hasattr(reactor, "_readOrWrite") or not hasattr(reactor, "_asyncioEventloop"):
        return None
    if not hasattr(transport, "_tempDataBuffer"):
        return None
    return WriteCoalescer(transport, reactor)
