"""A lean asyncio path to Redis for ``receive_async`` and ``send_many_async``, using hiredis.

How this works
--------------
redis.asyncio spends several hundred microseconds of CPU on every pipeline
(pool checkout behind an asyncio lock, command objects, response callbacks),
four to six times what the same round trip costs on the blocking fast path.
Daphne reads every reply through ``receive_async`` and sends its batches
through ``send_many_async``, so that overhead would land on the interface
server's event loop once per HTTP response or WebSocket frame.

With hiredis installed, each event loop keeps one connection per shard of its
own, made of an :class:`asyncio.Protocol` that feeds incoming bytes to a
``hiredis.Reader`` and resolves a queue of futures in order: ``request``
writes a packet of commands and returns the future of their replies (errors
as values, as on the blocking fast path). The protocol's queue, not the
caller, decides which replies belong to which request, so a cancelled caller
never desynchronises the connection: its replies are still read and handed to
the request's ``orphan`` callback, so the layer can keep what they popped.

Connecting is redis-py's job, as on the blocking path, run in the loop's
default executor so a slow or unreachable server never blocks the loop: the
authenticated socket is taken from the redis-py connection and handed to
asyncio. TLS connections keep using redis.asyncio. A lost connection fails
every waiting future with ``redis.ConnectionError``; the next request
reconnects. A request waits at most ``timeout`` seconds (the layer's socket
timeout), after which the connection is closed and ``redis.TimeoutError``
raised.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import redis

from ._fastpath import hiredis, reply_error

__all__ = ["AsyncFastConnection", "FastPathUnsupported"]

logger = logging.getLogger(__name__)


class FastPathUnsupported(Exception):
    """The connection cannot use the lean path (TLS); use redis.asyncio instead."""


class _Request:
    """Commands in flight: their future, the replies read so far, who takes orphans."""

    __slots__ = ("count", "future", "orphan", "replies")

    def __init__(
        self,
        future: asyncio.Future[list[Any]],
        count: int,
        orphan: Callable[[list[Any]], None] | None,
    ) -> None:
        self.future = future
        self.count = count
        self.orphan = orphan
        self.replies: list[Any] = []

    def finish(self) -> None:
        if not self.future.done():
            self.future.set_result(self.replies)
        elif self.future.cancelled() and self.orphan is not None:
            # The caller gave up while Redis was answering: hand the replies over.
            try:
                self.orphan(self.replies)
            except Exception:
                logger.exception("Could not keep the replies of a cancelled receive")


class _ReplyProtocol(asyncio.Protocol):
    """Parse replies with hiredis and hand them to the waiting futures, in order."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[_Request] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while self.waiting:
            reply = self.reader.gets()
            if reply is False:
                return
            request = self.waiting[0]
            request.replies.append(reply)
            if len(request.replies) == request.count:
                self.waiting.popleft()
                request.finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        error = redis.ConnectionError(f"Connection to Redis lost: {exc or 'closed'}")
        while self.waiting:
            future = self.waiting.popleft().future
            if not future.done():
                future.set_exception(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class AsyncFastConnection:
    """One event loop's connection to one shard."""

    def __init__(self, pool: Any, timeout: float | None) -> None:
        self._pool = pool
        # One redis-py connection object, reconnected as needed: each make_connection()
        # counts against the pool's max_connections for good.
        self._connection: Any = None
        self.timeout = timeout
        self._protocol: _ReplyProtocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def connect(self) -> None:
        """Open the connection now if it is not open (requests also do this)."""
        await self._connected()

    async def request(
        self,
        commands: Sequence[Sequence[Any]],
        orphan: Callable[[list[Any]], None] | None = None,
    ) -> asyncio.Future[list[Any]]:
        """Send ``commands`` in one packet; return the future of their replies.

        If that future is cancelled before the replies arrive, ``orphan`` gets
        them instead (so what a script popped is not lost).
        """
        protocol = await self._connected()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        transport = protocol.transport
        if transport is None:  # pragma: no cover - connection_made runs before we get here
            raise redis.ConnectionError("Redis connection has no transport")
        protocol.waiting.append(_Request(future, len(commands), orphan))
        transport.write(b"".join(hiredis.pack_command(tuple(c)) for c in commands))
        return future

    async def wait(self, future: asyncio.Future[list[Any]]) -> list[Any]:
        """Await ``future`` from :meth:`request` for at most ``timeout`` seconds.

        Error replies come back as exception instances. After a timeout the
        connection is closed (its replies can no longer be matched).
        """
        timer = None
        if self.timeout:
            timer = asyncio.get_running_loop().call_later(self.timeout, self._expire, future)
        try:
            replies = await future
        finally:
            if timer is not None:
                timer.cancel()
        return [self._value(reply) for reply in replies]

    def _expire(self, future: asyncio.Future[list[Any]]) -> None:
        if not future.done():
            future.set_exception(
                redis.TimeoutError(f"Timeout reading from Redis after {self.timeout}s")
            )
            self.close()

    def _value(self, reply: Any) -> Any:
        if not isinstance(reply, hiredis.ReplyError):
            return reply
        error, reconnect = reply_error(str(reply))
        if reconnect:
            self.close()
        return error

    async def _connected(self) -> _ReplyProtocol:
        protocol = self._protocol
        if protocol is not None and not protocol.closed:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            protocol = self._protocol
            if protocol is not None and not protocol.closed:
                return protocol
            loop = asyncio.get_running_loop()
            sock = await loop.run_in_executor(None, self._open_socket)
            try:
                if sock.family == socket.AF_UNIX:
                    _transport, protocol = await loop.create_unix_connection(
                        _ReplyProtocol, sock=sock
                    )
                else:
                    _transport, protocol = await loop.create_connection(_ReplyProtocol, sock=sock)
            except BaseException:
                sock.close()
                raise
            self._protocol = protocol
            return protocol

    def _open_socket(self) -> socket.socket:
        """Connect (and authenticate) with redis-py; take its socket over."""
        if self._connection is None:
            self._connection = self._pool.make_connection()
        connection = self._connection
        try:
            connection.connect()
        except OSError as exc:
            raise redis.ConnectionError(f"Error connecting to Redis: {exc}") from exc
        sock = connection._sock
        if type(sock) is not socket.socket:
            connection.disconnect()
            raise FastPathUnsupported(f"{type(sock).__name__} sockets use redis.asyncio")
        # From here on asyncio owns the socket; redis-py must not close it.
        connection._sock = None
        return sock

    def close(self) -> None:
        """Close the connection (waiting requests fail; the next one reconnects)."""
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None

    async def aclose(self) -> None:
        """Close the connection and let the loop finish closing the transport."""
        self.close()
        await asyncio.sleep(0)
