"""``send_many`` for the Redis layer: a batch of sends in one round trip per shard.

How this works
--------------
Every message is checked and encoded exactly as ``send`` does, and its SEND
script call is built for the first shard ``send`` would try. The calls are
grouped by shard and each shard's group goes out as one pipelined packet; Redis
runs them in order, so messages to one channel keep their order. The replies
are matched back to the pairs:

* a queued message reports ``None``;
* a message refused by its first shard (a normal channel's share is full on a
  sharded layer) is retried on the other shards one call at a time, as
  ``send`` does, once every shard's packet has gone out (so earlier messages of
  the batch get the free space first), and reports ``ChannelFull`` only if
  every shard refuses it;
* a message that could not be checked or encoded, or whose shard is
  unreachable, reports the exception ``send`` would have raised.

If a server does not know the SEND script yet (first use, or it restarted), the
script is loaded and the refused calls are sent again, still in one packet.

``send_many_and_receive`` is how a worker hands over a consumer's replies and
asks for its next message at once. When every send and every requested channel
live on one shard, the SEND calls, the BLPOP on the channels' wake-up tokens
and the RECEIVE script go out as one packet: Redis queues the replies before it
starts waiting, so they reach their readers at once, and the worker pays one
round trip per message instead of two. Anything else falls back to
``send_many`` followed by ``receive``.

With ``limit`` above 1 the receive is the ``RECEIVE_BATCH`` script instead: it
pops up to ``limit`` live messages from the first requested queue that has any,
but never more than half of what that queue holds (at least one), so other
workers always find work in a backlog and a queue of one is shared as before.
The first is returned; the rest go into the layer's prefetch buffer (the one
``x!`` prefixes use, :mod:`asgi_redis._prefetch`), from which
``receive_prefetched`` and later receives on those channels take them, oldest
first, without asking Redis. The worker answers them all with its next call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import redis
from asgiref.base_layer import require_send_pairs
from redis.exceptions import NoScriptError

from ._async_fast import FastPathUnsupported
from ._codec import entry_channel
from ._errors import unavailable
from ._waiting import timeout_arg

if TYPE_CHECKING:
    from .core import PreparedSend, RedisChannelLayer

__all__ = ["send_many", "send_many_and_receive", "send_many_async"]

Received = tuple[str, dict[str, Any]] | tuple[None, None]

logger = logging.getLogger(__name__)


def send_many(
    layer: RedisChannelLayer, messages: Iterable[tuple[str, dict[str, Any]]]
) -> list[BaseException | None]:
    """Send ``(channel, message)`` pairs with one packet per shard; return each outcome."""
    now = layer._now_ms()
    results, per_shard = _prepare_batch(layer, require_send_pairs(messages), now)
    return _send_prepared(layer, results, per_shard, now)


def _send_prepared(
    layer: RedisChannelLayer,
    results: list[BaseException | None],
    per_shard: dict[int, list[tuple[int, PreparedSend]]],
    now: int,
) -> list[BaseException | None]:
    """Send what :func:`_prepare_batch` prepared, one packet per shard; fill ``results``."""
    refused: list[tuple[int, PreparedSend]] = []
    for shard, items in per_shard.items():
        commands = _shard_commands(layer, items, now)
        try:
            replies = _run_batch(layer, shard, commands)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            _fail_shard(layer, shard, items, results, exc)
            continue
        refused.extend(_sort_replies(items, replies, results))
    return _finish_batch(layer, refused, results, now)


async def send_many_async(
    layer: RedisChannelLayer, messages: Iterable[tuple[str, dict[str, Any]]]
) -> list[BaseException | None]:
    """``send_many`` without blocking the event loop (the lean asyncio path).

    Every shard's packet is written before any reply is awaited, so a batch
    for several shards costs one round trip, not one per shard.
    """
    pairs = require_send_pairs(messages)
    fast = layer._async_fast_sends
    if fast is None:
        return send_many(layer, pairs)
    connections = await fast.get()
    now = layer._now_ms()
    results, per_shard = _prepare_batch(layer, pairs, now)
    try:
        for shard in per_shard:
            await connections[shard].connect()
    except FastPathUnsupported:
        layer._async_fast_sends = None  # TLS: nothing was written yet, send the usual way
        return send_many(layer, pairs)
    except (redis.ConnectionError, redis.TimeoutError):
        pass  # reported per shard below
    in_flight = []
    for shard, items in per_shard.items():
        commands = _shard_commands(layer, items, now)
        try:
            future = await connections[shard].request(commands)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            _fail_shard(layer, shard, items, results, exc)
            continue
        in_flight.append((shard, items, commands, future))
    refused: list[tuple[int, PreparedSend]] = []
    for shard, items, commands, future in in_flight:
        connection = connections[shard]
        try:
            replies = await connection.wait(future)
            missing = _missing_script(replies)
            if missing:
                load = ("SCRIPT", "LOAD", layer._scripts["SEND"].source)
                again = await connection.request([load, *(commands[n] for n in missing)])
                _fill(replies, missing, (await connection.wait(again))[1:])
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            _fail_shard(layer, shard, items, results, exc)
            continue
        refused.extend(_sort_replies(items, replies, results))
    return _finish_batch(layer, refused, results, now)


def _prepare_batch(
    layer: RedisChannelLayer, pairs: list[tuple[str, Any]], now: int
) -> tuple[list[BaseException | None], dict[int, list[tuple[int, PreparedSend]]]]:
    """Check and encode every pair; return the outcomes so far and the sends per shard."""
    results: list[BaseException | None] = [None] * len(pairs)
    per_shard: dict[int, list[tuple[int, PreparedSend]]] = {}
    for index, (channel, message) in enumerate(pairs):
        try:
            prepared = layer._prepare_send(channel, message, now)
        except Exception as exc:  # reported per message, like a plain send would raise it
            results[index] = exc
            continue
        per_shard.setdefault(prepared.targets[0][0], []).append((index, prepared))
    return results, per_shard


def _fail_shard(
    layer: RedisChannelLayer,
    shard: int,
    items: list[tuple[int, PreparedSend]],
    results: list[BaseException | None],
    exc: BaseException,
) -> None:
    error = unavailable(layer._describe_shard(shard), exc)
    for index, _prepared in items:
        results[index] = error


def _finish_batch(
    layer: RedisChannelLayer,
    refused: list[tuple[int, PreparedSend]],
    results: list[BaseException | None],
    now: int,
) -> list[BaseException | None]:
    # Only after every shard's packet, so earlier messages get the free space first.
    for index, prepared in sorted(refused, key=lambda item: item[0]):
        results[index] = _send_elsewhere(layer, prepared, now)
    return results


def send_many_and_receive(
    layer: RedisChannelLayer,
    messages: Iterable[tuple[str, dict[str, Any]]],
    channels: Iterable[str],
    block: bool,
    limit: int = 1,
) -> tuple[list[BaseException | None], Received]:
    """Send the pairs, then receive, in one round trip when one shard holds everything."""
    pairs = require_send_pairs(messages)
    names = layer.require_receive_names(channels)
    if not names or layer._prefetched or (not pairs and limit == 1):
        return layer.send_many(pairs), layer.receive(names, block)
    plan = layer._plan(names)
    now = layer._now_ms()
    results, per_shard = _prepare_batch(layer, pairs, now)
    if len(plan) != 1 or any(shard != plan[0][0] for shard in per_shard):
        return _send_prepared(layer, results, per_shard, now), layer.receive(names, block)
    shard, queues = plan[0]
    items = per_shard.get(shard, [])
    deadline = time.monotonic() + layer.receive_timeout
    commands = _shard_commands(layer, items, now)
    if block:
        commands.append(("BLPOP", *layer._wake_keys(queues), timeout_arg(layer.receive_timeout)))
    commands.append(layer._script_args(*_receive_script(now, block, limit, queues)))
    try:
        replies = layer._execute_many(shard, commands)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise unavailable(layer._describe_shard(shard), exc) from exc
    sent = len(items)
    send_replies = _resend_missing(layer, shard, commands[:sent], replies[:sent])
    for index, prepared in _sort_replies(items, send_replies, results):
        results[index] = _send_elsewhere(layer, prepared, now)
    received = _finish_receive(layer, plan[0], replies[len(items) :], block, limit, deadline)
    return results, received


def _receive_script(now: int, block: bool, limit: int, queues: list[str]) -> tuple[Any, ...]:
    """Return the script and arguments that pop one message, or up to ``limit`` of a backlog."""
    flag = "1" if block else "0"
    if limit > 1:
        return ("RECEIVE_BATCH", now, flag, limit, *queues)
    return ("RECEIVE", now, flag, *queues)


def _finish_receive(
    layer: RedisChannelLayer,
    plan: tuple[int, list[str]],
    replies: list[Any],
    block: bool,
    limit: int,
    deadline: float,
) -> Received:
    """Turn the receive part of a combined packet into ``receive``'s result."""
    shard, queues = plan
    entry = replies[-1]
    if isinstance(entry, NoScriptError):
        # The BLPOP may have taken a wake-up token already: pop with the flag it implies.
        woken = block and bool(replies[0])
        entry = layer._call(shard, *_receive_script(layer._now_ms(), woken, limit, queues))
    if isinstance(entry, Exception):
        raise entry
    if isinstance(entry, list):
        # A RECEIVE_BATCH reply: one queue's entries, so the first names the queue.
        queue = layer.non_local_name(entry_channel(entry[0])) if entry else ""
        entry = layer._keep_prefetched(queue, entry)
    if entry:
        return layer._decode(entry)
    if block and replies[0]:
        # Woken, but another reader was faster: keep waiting for the rest of the time.
        return layer._receive_blocking_one(plan, deadline)
    return None, None


def _sort_replies(
    items: list[tuple[int, PreparedSend]],
    replies: list[Any],
    results: list[BaseException | None],
) -> list[tuple[int, PreparedSend]]:
    """Record failed sends in ``results``; return the ones their first shard refused."""
    refused: list[tuple[int, PreparedSend]] = []
    for (index, prepared), reply in zip(items, replies, strict=True):
        if isinstance(reply, Exception):
            results[index] = reply
        elif not reply:
            refused.append((index, prepared))
    return refused


def _run_batch(layer: RedisChannelLayer, shard: int, commands: list[Any]) -> list[Any]:
    """Send ``commands`` to ``shard`` in one packet, loading the script if it is missing."""
    return _resend_missing(layer, shard, commands, layer._execute_many(shard, commands))


def _resend_missing(
    layer: RedisChannelLayer, shard: int, commands: list[Any], replies: list[Any]
) -> list[Any]:
    """Load the SEND script and resend the ``commands`` whose reply says it was missing."""
    missing = _missing_script(replies)
    if missing:
        layer._execute(shard, ("SCRIPT", "LOAD", layer._scripts["SEND"].source))
        _fill(replies, missing, layer._execute_many(shard, [commands[n] for n in missing]))
    return replies


def _shard_commands(
    layer: RedisChannelLayer, items: list[tuple[int, PreparedSend]], now: int
) -> list[tuple[Any, ...]]:
    """Return the SEND script calls for one shard's share of a batch."""
    return [layer._send_command(prepared, 0, now) for _index, prepared in items]


def _missing_script(replies: list[Any]) -> list[int]:
    """Return the positions of replies saying the server lacked the script."""
    return [index for index, reply in enumerate(replies) if isinstance(reply, NoScriptError)]


def _fill(replies: list[Any], positions: list[int], again: list[Any]) -> None:
    """Put the replies of resent commands back at their ``positions``."""
    for index, reply in zip(positions, again, strict=True):
        replies[index] = reply


def _send_elsewhere(
    layer: RedisChannelLayer, prepared: PreparedSend, now: int
) -> BaseException | None:
    """Try the remaining shards of a normal channel; return ChannelFull if all are full."""
    for attempt in range(1, len(prepared.targets)):
        try:
            queued = layer._call(
                prepared.targets[attempt][0], "SEND", now, *layer._send_args(prepared, attempt)
            )
        except Exception as exc:  # reported per message
            return exc
        if queued:
            return None
    return layer._channel_full(prepared.channel)
