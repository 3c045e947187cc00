"""Wait for wake-up tokens on one or several Redis shards at once.

How this works
--------------
A blocking receive over channels on several shards first tries to pop a
message with one script call per shard. If every queue is empty it BLPOPs the
wake-up lists (``P w:<queue>``) of the channels it reads, on every shard that
holds one of them, at the same time: the sync path sends one BLPOP per shard
on its own connection and waits on their sockets with ``select``; the async
path runs one task per shard. The first shard to answer wins. (A single shard
needs none of this; see ``RedisChannelLayer._receive_blocking_one``.)

The BLPOPs still pending on the other shards are ended with ``CLIENT UNBLOCK``
(each BLPOP is sent right after ``CLIENT ID``, in the same packet, so the id is
known) and their replies are read: a token that arrived meanwhile is returned
too, never dropped, so every queued message keeps a token and some blocked
reader is woken for it. Only if a connection cannot be unblocked in time is it
closed; the token it may have taken then costs at most one bounded wait of
another reader, never a message, because messages stay in their queues and
every blocking receive reads the queues before it gives up.

Each BLPOP's server-side timeout is the time left of the receive, so a receive
never blocks longer than ``receive_timeout`` (plus a network round trip).
"""

from __future__ import annotations

import asyncio
import logging
import selectors
from collections.abc import Sequence
from typing import Any

__all__ = ["Woken", "async_wait", "sync_wait", "timeout_arg"]

logger = logging.getLogger(__name__)

#: ``(shard index, queue name)`` of a wake-up token that was taken.
Woken = tuple[int, str]

_SLACK = 1.0
_UNBLOCK_WAIT = 1.0


def timeout_arg(timeout: float) -> str:
    """Return a BLPOP timeout argument for ``timeout`` seconds (never 0, which blocks forever)."""
    return f"{max(timeout, 0.01):.3f}"


def _woken(shard: int, reply: Any, wake_prefix: bytes) -> Woken | None:
    if not reply:
        return None
    key = reply[0]
    return shard, bytes(key)[len(wake_prefix) :].decode("ascii")


def _sync_connection(pool: Any) -> Any:
    try:
        return pool.get_connection()
    except TypeError:  # redis-py before 5.3 wants a command name
        return pool.get_connection("BLPOP")


async def _async_connection(pool: Any) -> Any:
    try:
        waiting = pool.get_connection()
    except TypeError:  # redis-py before 5.3 wants a command name
        waiting = pool.get_connection("BLPOP")
    return await waiting


def sync_wait(
    clients: Sequence[Any],
    waits: Sequence[tuple[int, list[str]]],
    wake_prefix: bytes,
    timeout: float,
) -> list[Woken]:
    """Block until a token arrives on any of ``waits`` or ``timeout`` passes.

    ``waits`` pairs a shard index with the wake-up keys to BLPOP there (two or
    more shards; a single shard is handled by the caller in one round trip).
    Return the tokens taken (empty on timeout).
    """
    pending: list[tuple[int, Any, Any, Any]] = []
    results: list[Woken] = []
    finished: set[int] = set()
    try:
        for shard, keys in waits:
            pool = clients[shard].connection_pool
            connection = _sync_connection(pool)
            pending.append((shard, pool, connection, None))
            connection.send_packed_command(
                connection.pack_commands([("CLIENT", "ID"), ("BLPOP", *keys, timeout_arg(timeout))])
            )
        for index, (shard, pool, connection, _id) in enumerate(pending):
            pending[index] = (shard, pool, connection, connection.read_response())
        # A reply that came in the same packet as the id sits in the parser's buffer,
        # where select cannot see it.
        ready = [index for index, item in enumerate(pending) if item[2].can_read(timeout=0)]
        if not ready:
            with selectors.DefaultSelector() as selector:
                for index, (_shard, _pool, connection, _id) in enumerate(pending):
                    selector.register(connection._sock, selectors.EVENT_READ, index)
                ready = [key.data for key, _events in selector.select(timeout + _SLACK)]
        for index in ready:
            shard, _pool, connection, _id = pending[index]
            found = _woken(shard, connection.read_response(), wake_prefix)
            finished.add(index)
            if found:
                results.append(found)
        for index, (shard, _pool, connection, client_id) in enumerate(pending):
            if index in finished:
                continue
            clients[shard].execute_command("CLIENT", "UNBLOCK", client_id)
            if connection.can_read(timeout=_UNBLOCK_WAIT):
                found = _woken(shard, connection.read_response(), wake_prefix)
                finished.add(index)
                if found:
                    results.append(found)
    finally:
        for index, (_shard, pool, connection, _id) in enumerate(pending):
            if index not in finished:
                connection.disconnect()
            pool.release(connection)
    return results


async def async_wait(
    clients: Sequence[Any],
    waits: Sequence[tuple[int, list[str]]],
    wake_prefix: bytes,
    timeout: float,
) -> list[Woken]:
    """Await a token on any of ``waits``; the async twin of :func:`sync_wait`."""
    ids: dict[int, asyncio.Future[Any]] = {}
    loop = asyncio.get_running_loop()

    async def blpop(shard: int, keys: list[str]) -> Any:
        pool = clients[shard].connection_pool
        connection = await _async_connection(pool)
        try:
            await connection.send_packed_command(
                connection.pack_commands([("CLIENT", "ID"), ("BLPOP", *keys, timeout_arg(timeout))])
            )
            ids[shard].set_result(await connection.read_response())
            return await connection.read_response()
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)

    tasks: dict[asyncio.Future[Any], int] = {}
    for shard, keys in waits:
        ids[shard] = loop.create_future()
        tasks[asyncio.ensure_future(blpop(shard, keys))] = shard
    try:
        await asyncio.wait(tasks, timeout=timeout + _SLACK, return_when=asyncio.FIRST_COMPLETED)
        for task, shard in tasks.items():
            if task.done() or not ids[shard].done() or ids[shard].exception() is not None:
                continue
            await clients[shard].execute_command("CLIENT", "UNBLOCK", ids[shard].result())
        await asyncio.wait(tasks, timeout=_UNBLOCK_WAIT)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        # Collect every task so none is left pending or with an unread exception.
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for future in ids.values():
            if not future.done():
                future.cancel()
    results: list[Woken] = []
    errors: list[BaseException] = []
    for shard, outcome in zip(tasks.values(), outcomes, strict=True):
        if isinstance(outcome, asyncio.CancelledError):
            continue
        if isinstance(outcome, BaseException):
            errors.append(outcome)
            continue
        found = _woken(shard, outcome, wake_prefix)
        if found:
            results.append(found)
    if errors and not results:
        raise errors[0]
    return results
