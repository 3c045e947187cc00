"""A lean request/reply path to Redis for the layer's hot calls, using hiredis.

How this works
--------------
redis-py's generic ``execute_command`` spends several times more CPU per call
than the network round trip itself costs on localhost (pool checkout, retry
wrapper, metrics hooks, response callbacks). The layer's hot calls are all
``EVALSHA`` with plain replies, so when hiredis is installed each thread keeps
one connection per shard of its own and talks to it directly: hiredis packs the
command, ``sendall`` sends it, hiredis parses the reply.

Connecting is still redis-py's job (``pool.make_connection().connect()``), so
URLs, passwords, database selection, TLS, unix sockets and Sentinel master
discovery behave exactly as configured. Any socket error closes the
connection and raises redis-py's ``ConnectionError``/``TimeoutError``; the next
call reconnects. A forked child never reuses its parent's sockets (an
``os.register_at_fork`` hook bumps a generation number, so the per-call check
costs no ``getpid`` system call).

Syscalls are the price of a call on a busy machine, so a plain TCP or unix
socket is switched to blocking mode with the socket timeout set in the kernel
(``SO_RCVTIMEO``/``SO_SNDTIMEO``): Python then calls ``send``/``recv`` directly
instead of ``poll`` before each, and a silent server still times out. TLS
sockets keep Python's timeout handling.
Without hiredis, calls go through redis-py's normal client.

Busy polling
------------
Redis usually answers a script within tens of microseconds, but a thread that
sleeps in ``recv`` until the reply arrives pays for going to sleep and for
being woken, which on virtual machines costs more than the wait itself. So
after sending, a call first polls the socket without blocking for up to
``busy_poll_us`` microseconds (the idea of Linux's ``SO_BUSY_POLL``) and only
then sleeps. The poll runs only where it can pay off: on plain TCP and unix
sockets, and by default only when this process may use more than one CPU
(with one, Redis could not run while we poll). A reply that comes after the
poll ran out but within :data:`WAIT_BUDGETS` budgets was just slow, and the next
call polls again. One that took longer was a wait (a blocking receive on empty
queues, a distant server): then the next :data:`SKIPS_AFTER_MISS` calls on that
connection sleep at once, so where polling does not pay it costs at most one
budget per eight calls.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import weakref
from collections.abc import Sequence
from time import monotonic_ns
from typing import Any

import redis
from redis.exceptions import NoScriptError, ResponseError

hiredis: Any
try:
    import hiredis
except ImportError:  # pragma: no cover - exercised in an install without the extra
    hiredis = None

__all__ = [
    "DEFAULT_BUSY_POLL_US",
    "HAVE_HIREDIS",
    "SKIPS_AFTER_MISS",
    "WAIT_BUDGETS",
    "FastConnections",
    "default_busy_poll_us",
    "hiredis",
    "reply_error",
]

logger = logging.getLogger(__name__)

HAVE_HIREDIS = hiredis is not None
_BUFFER_SIZE = 65536
#: Polling budget in microseconds when the process may use several CPUs.
DEFAULT_BUSY_POLL_US = 200
#: A reply this many polling budgets after its call was a wait, not a slow answer.
WAIT_BUDGETS = 10
#: Calls on a connection that sleep at once after one that waited.
SKIPS_AFTER_MISS = 7


def default_busy_poll_us() -> int:
    """Return the default polling budget: :data:`DEFAULT_BUSY_POLL_US`, or 0 on one CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        cpus = os.cpu_count() or 1
    return DEFAULT_BUSY_POLL_US if cpus > 1 else 0


def reply_error(text: str) -> tuple[Exception, bool]:
    """Return the exception for an error reply, and whether to drop the connection."""
    code = text.split(" ", 1)[0]
    if code == "NOSCRIPT":
        return NoScriptError(text), False
    if code in ("READONLY", "MASTERDOWN", "LOADING"):
        # A demoted master (failover) or a server still starting: reconnect next time.
        return redis.ConnectionError(text), True
    return ResponseError(text), False


class _ForkGeneration:
    """Counts forks in this process's history, so children drop inherited sockets."""

    value = 0

    @classmethod
    def bump(cls) -> None:
        cls.value += 1


os.register_at_fork(after_in_child=_ForkGeneration.bump)


def _kernel_timeouts(sock: socket.socket, timeout: float | None) -> None:
    """Make ``sock`` blocking with ``timeout`` enforced by the kernel, if it is a plain socket."""
    if type(sock) is not socket.socket or not timeout:
        return  # TLS sockets (and no timeout at all) keep Python's own handling
    seconds = int(timeout)
    value = struct.pack("ll", seconds, int((timeout - seconds) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
    sock.settimeout(None)


class _Connection:
    """One thread's connection to one shard."""

    __slots__ = (
        "__weakref__",
        "_buffer",
        "_connection",
        "_poll_ns",
        "_pollable",
        "_reader",
        "_skips",
        "_sock",
        "_wait_ns",
    )

    def __init__(self, pool: Any, busy_poll_us: int = 0) -> None:
        self._connection = pool.make_connection()
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._buffer = bytearray(_BUFFER_SIZE)
        self._poll_ns = busy_poll_us * 1000
        # Measured from the end of the poll, which is one budget after the call began.
        self._wait_ns = (WAIT_BUDGETS - 1) * self._poll_ns
        self._pollable = False
        self._skips = 0

    def call(self, args: Sequence[Any]) -> Any:
        reply = self.exchange([args])[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def exchange(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send ``commands`` in one packet; return their replies, errors as values."""
        sock = self._sock
        if sock is None:
            sock = self._connect()
        reader = self._reader
        buffer = self._buffer
        replies: list[Any] = []
        try:
            sock.sendall(b"".join(hiredis.pack_command(tuple(args)) for args in commands))
            deadline = self._poll_deadline()
            missed = 0
            while len(replies) < len(commands):
                reply = reader.gets()
                while reply is False:
                    if deadline and monotonic_ns() < deadline:
                        try:
                            count = sock.recv_into(buffer, 0, socket.MSG_DONTWAIT)
                        except BlockingIOError:
                            continue
                    else:
                        if deadline:
                            missed = deadline
                        deadline = 0
                        count = sock.recv_into(buffer)
                    if not count:
                        raise redis.ConnectionError("Connection closed by server.")
                    reader.feed(buffer, 0, count)
                    reply = reader.gets()
                replies.append(reply)
            if missed and monotonic_ns() - missed > self._wait_ns:
                self._skips = SKIPS_AFTER_MISS
        except (TimeoutError, BlockingIOError) as exc:
            # BlockingIOError: the kernel's SO_RCVTIMEO/SO_SNDTIMEO ran out.
            self.disconnect()
            raise redis.TimeoutError(f"Timeout talking to Redis: {exc}") from exc
        except OSError as exc:
            self.disconnect()
            raise redis.ConnectionError(f"Error talking to Redis: {exc}") from exc
        except redis.ConnectionError:
            self.disconnect()
            raise
        return [
            self._error(str(reply)) if isinstance(reply, hiredis.ReplyError) else reply
            for reply in replies
        ]

    def _poll_deadline(self) -> int:
        """Return when to stop polling for this exchange's replies, or 0 not to poll."""
        if not self._pollable:
            return 0
        if self._skips:
            self._skips -= 1
            return 0
        return monotonic_ns() + self._poll_ns

    def _connect(self) -> socket.socket:
        self._connection.connect()
        sock = self._connection._sock
        if sock is None:  # pragma: no cover - connect() raises instead
            raise redis.ConnectionError("Could not connect to Redis.")
        _kernel_timeouts(sock, getattr(self._connection, "socket_timeout", None))
        # Polling needs a plain socket in blocking mode (TLS sockets keep Python's timeouts).
        self._pollable = (
            self._poll_ns > 0 and type(sock) is socket.socket and sock.gettimeout() is None
        )
        self._sock = sock
        self._reader = hiredis.Reader()
        return sock  # type: ignore[no-any-return]

    def _error(self, text: str) -> Exception:
        error, reconnect = reply_error(text)
        if reconnect:
            self.disconnect()
        return error

    def __del__(self) -> None:
        # The thread that owned this connection ended without close(): release the socket
        # now instead of leaving it to the garbage collector (a ResourceWarning).
        if self._sock is not None:
            self.disconnect()

    def disconnect(self) -> None:
        self._sock = None
        self._reader = None
        try:
            self._connection.disconnect()
        except OSError:
            logger.debug("Error closing a Redis connection", exc_info=True)


class FastConnections:
    """Per-thread direct connections, one per shard pool.

    ``busy_poll_us``: how long each call polls for its reply before sleeping.
    """

    def __init__(self, pools: Sequence[Any], busy_poll_us: int = 0) -> None:
        self._pools = list(pools)
        self._busy_poll_us = busy_poll_us
        self._local = threading.local()
        self._all: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._lock = threading.Lock()

    def call(self, shard: int, args: Sequence[Any]) -> Any:
        """Send one command to ``shard`` on this thread's connection; return the reply."""
        return self._connection(shard).call(args)

    def _connection(self, shard: int) -> _Connection:
        local = self._local
        connections: list[_Connection | None] | None = getattr(local, "connections", None)
        if connections is None or local.generation != _ForkGeneration.value:
            connections = local.connections = [None] * len(self._pools)
            local.generation = _ForkGeneration.value
        connection = connections[shard]
        if connection is None:
            connection = connections[shard] = _Connection(self._pools[shard], self._busy_poll_us)
            with self._lock:
                self._all.add(connection)
        return connection

    def exchange(self, shard: int, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send ``commands`` to ``shard`` in one packet; return their replies, errors as values."""
        return self._connection(shard).exchange(commands) if commands else []

    def call_pair(self, shard: int, first: Sequence[Any], second: Sequence[Any]) -> list[Any]:
        """Send two commands to ``shard`` in one packet; return both replies."""
        return self._connection(shard).exchange([first, second])

    def close(self) -> None:
        """Close every thread's connections (they reconnect if used again)."""
        with self._lock:
            connections = list(self._all)
        for connection in connections:
            connection.disconnect()
