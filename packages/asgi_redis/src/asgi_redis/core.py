"""The Redis channel layer: sharded, optionally encrypted, one round trip per message.

How this works
--------------
Each operation is one Lua script call (EVALSHA) on one shard; the data model
and the scripts are described in :mod:`asgi_redis._scripts`.

* Shards. ``?`` channels, ``x!`` prefixes and group memberships are pinned to a
  shard by consistent hashing of the queue name (the non-local part for
  ``x!y``). Sends to normal channels go round-robin over the shards (each
  shard holds its share of the channel's capacity; a full share sends the
  message to the next shard), and a receive on normal channels asks every
  shard, starting from a different one each call, so no message waits behind
  an idle shard.
* Receive. Without ``block`` it is one script call per shard involved, stopping
  at the first message. With ``block`` on one shard, a BLPOP on the channels'
  wake-up tokens and the popping script go out in one packet: one round trip
  whether a message is waiting or arrives later. Across shards the layer asks
  each shard once, then waits on all of them at once
  (:mod:`asgi_redis._waiting`). Either way it waits at most ``receive_timeout``.
* Groups. A membership lives on the shard of its member's queue, so
  ``send_group`` is one script call per shard that checks capacity and queues a
  copy for each live member; full members are skipped silently.
* Faults. Connection problems surface as :class:`RedisUnavailableError` (a
  :class:`ConnectionError`) naming the server. Nothing is cached across calls
  but pooled connections, which redis-py replaces when they break, so the same
  layer object works again as soon as the server is back.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import redis
import redis.asyncio
from asgiref.base_layer import BaseChannelLayer, CapacityPattern, validate_message
from redis.exceptions import NoScriptError

from . import _scripts
from ._async import LoopClients
from ._async_fast import AsyncFastConnection, FastPathUnsupported
from ._batch import send_many, send_many_and_receive, send_many_async
from ._codec import Codec, MessageDecodeError, entry_channel
from ._config import glob_to_lua, jump_hash, normalize_hosts, redact_url
from ._errors import unavailable
from ._fastpath import HAVE_HIREDIS, FastConnections, default_busy_poll_us
from ._prefetch import PREFETCH, PrefetchBuffer, prefetchable
from ._statistics import combine_statistics
from ._waiting import Woken, async_wait, sync_wait, timeout_arg

__all__ = ["PreparedSend", "RedisChannelLayer"]

logger = logging.getLogger(__name__)

#: How long per-channel and global counters survive without activity.
STATS_TTL_SECONDS = 3600
_KEY_TTL_SLACK_SECONDS = 300


class PreparedSend(NamedTuple):
    """One checked, encoded message and the ``(shard, capacity share)`` targets to try."""

    channel: str
    queue: str
    entry: bytes
    expires: int
    targets: list[tuple[int, int]]


class _Script:
    """A Lua script known by its SHA, loaded into a server on first use."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode("utf-8")).hexdigest()


class RedisChannelLayer(BaseChannelLayer):
    """ASGI 1 channel layer over one or more Redis servers.

    Provides the ``groups``, ``flush``, ``statistics`` and ``async`` extensions.
    """

    extensions = ["groups", "flush", "statistics", "async"]

    def __init__(
        self,
        hosts: Sequence[str | tuple[str, int]] | str | None = None,
        prefix: str = "asgi:",
        expiry: float = 60,
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: Mapping[CapacityPattern, int] | None = None,
        symmetric_encryption_keys: Sequence[str | bytes] | None = None,
        stats_prefix: str = "asgi-meta:",
        connection_kwargs: Mapping[str, Any] | None = None,
        receive_timeout: float = 5.0,
        busy_poll_us: int | None = None,
        time_fn: Callable[[], float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            time_fn=time_fn,
            **kwargs,
        )
        self.prefix = _require_prefix("prefix", prefix)
        self.stats_prefix = _require_prefix("stats_prefix", stats_prefix)
        if (
            isinstance(receive_timeout, bool)
            or not isinstance(receive_timeout, int | float)
            or not 0 < receive_timeout <= 3600
        ):
            raise ValueError(
                f"receive_timeout is {receive_timeout!r}; it must be a number of seconds "
                "above 0 and at most 3600, such as 5."
            )
        self.receive_timeout = float(receive_timeout)
        if busy_poll_us is None:
            busy_poll_us = default_busy_poll_us()
        if (
            isinstance(busy_poll_us, bool)
            or not isinstance(busy_poll_us, int)
            or not (0 <= busy_poll_us <= 10_000)
        ):
            raise ValueError(
                f"busy_poll_us is {busy_poll_us!r}; it must be a whole number of microseconds "
                "from 0 (never poll, always sleep) to 10000, or None for the default."
            )
        self.busy_poll_us = busy_poll_us
        self._codec = Codec(symmetric_encryption_keys)
        self.connection_kwargs = self._connection_kwargs(connection_kwargs)
        self.hosts = self._configure_hosts(hosts)
        self._clients: list[Any] = self._make_clients()
        self._shards = len(self._clients)
        self._fast = (
            FastConnections([client.connection_pool for client in self._clients], self.busy_poll_us)
            if HAVE_HIREDIS
            else None
        )
        self._next_shard = itertools.count()
        self._rotation = itertools.count()
        self._stats_base = self.stats_prefix + self.prefix
        self._wake_prefix = (self.prefix + "w:").encode()
        self._expiry_ms = int(self.expiry * 1000)
        self._key_ttl_ms = int((self.expiry * 2 + _KEY_TTL_SLACK_SECONDS) * 1000)
        self._group_ttl_ms = int((self.group_expiry + _KEY_TTL_SLACK_SECONDS) * 1000)
        self._stats_ttl_ms = STATS_TTL_SECONDS * 1000
        self._lua_capacities = _capacity_rules(channel_capacity)
        self._scripts = {
            name: _Script(getattr(_scripts, name))
            for name in (
                "SEND",
                "RECEIVE",
                "RECEIVE_MANY",
                "RECEIVE_BATCH",
                "GROUP_ADD",
                "GROUP_DISCARD",
                "GROUP_CHANNELS",
                "GROUP_SEND",
                "STATS_CHANNEL",
                "STATS_GLOBAL",
            )
        }
        self._loop_clients = LoopClients(self._make_async_clients)
        self._async_fast: LoopClients | None = (
            LoopClients(self._make_async_fast_connections) if HAVE_HIREDIS else None
        )
        # Sends get connections of their own: on a receive's connection they would
        # wait behind its BLPOP for as long as it blocks.
        self._async_fast_sends: LoopClients | None = (
            LoopClients(self._make_async_fast_connections) if HAVE_HIREDIS else None
        )
        self._prefetched = PrefetchBuffer()

    # Configuration hooks (overridden by the Sentinel layer) --------------------

    def _configure_hosts(self, hosts: Any) -> list[str]:
        return normalize_hosts(hosts)

    def _make_clients(self) -> list[Any]:
        return [redis.Redis.from_url(url, **self.connection_kwargs) for url in self.hosts]

    def _make_async_clients(self) -> list[Any]:
        return [
            redis.asyncio.Redis.from_url(url, **self._async_connection_kwargs())
            for url in self.hosts
        ]

    def _make_async_fast_connections(self) -> list[Any]:
        timeout = self.connection_kwargs.get("socket_timeout")
        return [AsyncFastConnection(client.connection_pool, timeout) for client in self._clients]

    def _async_connection_kwargs(self) -> dict[str, Any]:
        options = dict(self.connection_kwargs)
        if isinstance(options.get("retry"), redis.retry.Retry):
            options["retry"] = redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0)
        return options

    def _describe_shard(self, shard: int) -> str:
        return redact_url(self.hosts[shard])

    def _connection_kwargs(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        if given is not None and not isinstance(given, Mapping):
            raise ValueError(
                f"connection_kwargs is {given!r}; it must be a dict of redis-py connection "
                "options such as {'socket_connect_timeout': 5}."
            )
        options = dict(given or {})
        if options.get("decode_responses"):
            raise ValueError(
                "connection_kwargs sets decode_responses; the layer needs raw bytes, remove it."
            )
        options["decode_responses"] = False
        socket_timeout = options.setdefault("socket_timeout", self.receive_timeout + 10)
        if socket_timeout is not None and socket_timeout <= self.receive_timeout:
            raise ValueError(
                f"connection_kwargs['socket_timeout'] is {socket_timeout!r}; it must be longer "
                f"than receive_timeout ({self.receive_timeout}) so blocking receives can finish."
            )
        options.setdefault("socket_connect_timeout", 5)
        # Never resend a command after a broken connection: a send could be queued twice.
        options.setdefault("retry", redis.retry.Retry(redis.backoff.NoBackoff(), 0))
        return options

    # Core API -----------------------------------------------------------------

    def send(self, channel: str, message: dict[str, Any]) -> None:
        """Queue ``message`` on ``channel``; raise ChannelFull if it is at capacity."""
        now = self._now_ms()
        prepared = self._prepare_send(channel, message, now)
        for attempt, (shard, _capacity) in enumerate(prepared.targets):
            if self._call(shard, "SEND", now, *self._send_args(prepared, attempt)):
                return
        raise self._channel_full(channel)

    def send_many(
        self, messages: Iterable[tuple[str, dict[str, Any]]]
    ) -> list[BaseException | None]:
        """Send ``(channel, message)`` pairs in one round trip per shard.

        Returns one entry per pair: ``None`` if queued, else the exception
        ``send`` would have raised for it (see :mod:`asgi_redis._batch`).
        """
        return send_many(self, messages)

    async def send_many_async(
        self, messages: Iterable[tuple[str, dict[str, Any]]]
    ) -> list[BaseException | None]:
        """``send_many`` that awaits Redis instead of blocking the event loop.

        Daphne uses it so its reactor keeps serving sockets while a batch is in
        flight. Without hiredis (or over TLS) it calls ``send_many``.
        """
        return await send_many_async(self, messages)

    def send_many_and_receive(
        self,
        messages: Iterable[tuple[str, dict[str, Any]]],
        channels: Iterable[str],
        block: bool = False,
        *,
        limit: int = 1,
    ) -> tuple[list[BaseException | None], tuple[str, dict[str, Any]] | tuple[None, None]]:
        """``send_many(messages)`` then ``receive(channels, block)``, in one round trip if possible.

        With ``limit`` above 1 the receive may take up to that many messages of a
        backlog at once (never more than half of it): the first is returned, the
        rest are kept for :meth:`receive_prefetched` and the next receives on
        those channels (see :mod:`asgi_redis._batch`). If it raises (Redis
        unreachable), the sends may or may not have been queued.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit is {limit!r}; it must be a positive int, such as 4.")
        return send_many_and_receive(self, messages, channels, block, limit)

    def receive_prefetched(
        self, channels: Iterable[str]
    ) -> tuple[str, dict[str, Any]] | tuple[None, None]:
        """Return a message this process already took for ``channels``; never asks Redis.

        ``send_many_and_receive(..., limit=N)`` keeps the extra messages it takes
        here: a worker hands them out before its next round trip, and a stopping
        worker calls this until it returns ``(None, None)``.
        """
        names = self.require_receive_names(channels)
        if names and self._prefetched:
            entry = self._prefetched.take(names, self._now_ms())
            if entry is not None:
                return self._decode(entry)
        return None, None

    def _prepare_send(self, channel: str, message: dict[str, Any], now: int) -> PreparedSend:
        """Check and encode one message for sending; raise what ``send`` would raise."""
        self.require_channel_name(channel)
        validate_message(message)
        payload, size = self._codec.packed_size(message)
        self.check_size(size)
        queue = self.non_local_name(channel)
        expires = now + self._expiry_ms
        entry = b"%013d%s\0%s" % (expires, channel.encode("ascii"), payload)
        return PreparedSend(channel, queue, entry, expires, self._send_targets(queue))

    def _send_args(self, prepared: PreparedSend, attempt: int) -> tuple[Any, ...]:
        """Return the SEND script's arguments for trying target number ``attempt``."""
        last = 1 if attempt == len(prepared.targets) - 1 else 0
        capacity = prepared.targets[attempt][1]
        return (
            prepared.queue,
            prepared.entry,
            prepared.expires,
            capacity,
            self._key_ttl_ms,
            last,
        )

    def _send_command(self, prepared: PreparedSend, attempt: int, now: int) -> tuple[Any, ...]:
        return self._script_args("SEND", now, *self._send_args(prepared, attempt))

    def _channel_full(self, channel: str) -> BaseException:
        return self.ChannelFull(
            f"Channel {channel!r} holds {self.get_capacity(self.non_local_name(channel))} "
            "messages, its capacity; wait for readers to catch up or raise the capacity."
        )

    def _send_targets(self, queue: str) -> list[tuple[int, int]]:
        """Return the ``(shard, capacity share)`` pairs to try, in order, for a send."""
        if self._shards == 1:
            return [(0, self.get_capacity(queue))]
        if queue[-1] == "!" or "?" in queue:
            return [(jump_hash(queue, self._shards), self.get_capacity(queue))]
        shares = self._capacity_shares(queue)
        start = next(self._next_shard) % self._shards
        return [
            (shard, shares[shard])
            for shard in itertools.chain(range(start, self._shards), range(start))
            if shares[shard]
        ]

    def _capacity_shares(self, queue: str) -> list[int]:
        """Split a normal channel's capacity over the shards, home shard first.

        The shares add up to the capacity, so a channel holds exactly ``capacity``
        live messages across all shards; the home shard (where group messages for
        the channel go) always gets a share.
        """
        capacity = self.get_capacity(queue)
        home = jump_hash(queue, self._shards)
        base, extra = divmod(capacity, self._shards)
        return [
            base + (1 if (shard - home) % self._shards < extra else 0)
            for shard in range(self._shards)
        ]

    def receive(
        self, channels: Iterable[str], block: bool = False
    ) -> tuple[str, dict[str, Any]] | tuple[None, None]:
        """Return ``(channel, message)`` from one of ``channels``, or ``(None, None)``.

        With ``block=True`` wait up to ``receive_timeout`` seconds for a message.
        """
        names = self.require_receive_names(channels)
        if not names:
            return None, None
        if self._prefetched:
            buffered = self._prefetched.take(names, self._now_ms())
            if buffered is not None:
                return self._decode(buffered)
        plan = self._plan(names)
        if not block:
            return self._receive_once(plan, [])
        deadline = time.monotonic() + self.receive_timeout
        if len(plan) == 1:
            return self._receive_blocking_one(plan[0], deadline)
        found = self._receive_once(plan, [])
        while found[0] is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            waits = [(shard, self._wake_keys(queues)) for shard, queues in plan]
            try:
                woken = sync_wait(self._clients, waits, self._wake_prefix, remaining)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                raise unavailable(self._describe_shard(waits[0][0]), exc) from exc
            found = self._receive_once(plan, woken)
            if not woken:
                break
        return found

    def _receive_blocking_one(
        self, plan: tuple[int, list[str]], deadline: float
    ) -> tuple[str, dict[str, Any]] | tuple[None, None]:
        """Block on one shard: BLPOP a token and pop the message in one round trip.

        The BLPOP and the RECEIVE script go out in one packet; Redis runs the script
        as soon as the BLPOP returns (at once if a token is waiting), so a busy
        queue and an idle one both cost one round trip per message.
        """
        shard, queues = plan
        wake_keys = self._wake_keys(queues)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, None
            blpop = ("BLPOP", *wake_keys, timeout_arg(remaining))
            receive = self._script_args("RECEIVE", self._now_ms(), "1", *queues)
            try:
                token, entry = self._execute_pair(shard, blpop, receive)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                raise unavailable(self._describe_shard(shard), exc) from exc
            if isinstance(entry, NoScriptError):
                # First use on this server (or it restarted): load the script, then pop
                # with it, since the BLPOP may have taken the token already.
                entry = self._call(shard, "RECEIVE", self._now_ms(), "1", *queues)
            if isinstance(entry, Exception):
                raise entry
            if entry:
                return self._decode(entry)
            if not token:
                return None, None  # timed out; the script was the final check

    async def receive_async(
        self, channels: Iterable[str]
    ) -> tuple[str, dict[str, Any]] | tuple[None, None]:
        """Await a message on any of ``channels`` for up to ``receive_timeout`` seconds.

        Uses redis.asyncio with one connection pool per event loop. A receive on
        exactly one process-specific prefix (``x!``) fetches up to
        :data:`~asgi_redis._prefetch.PREFETCH` waiting messages in one round trip
        and hands the rest out from a local buffer, in order (see
        :mod:`asgi_redis._prefetch`).
        """
        names = self.require_receive_names(channels)
        if not names:
            return None, None
        if self._prefetched:
            buffered = self._prefetched.take(names, self._now_ms())
            if buffered is not None:
                return self._decode(buffered)
        plan = self._plan(names)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.receive_timeout
        if len(plan) == 1 and self._async_fast is not None:
            connections = await self._async_fast.get()
            try:
                return await self._receive_one_shard_fast(
                    connections[plan[0][0]], plan[0], prefetchable(names), deadline
                )
            except FastPathUnsupported:
                logger.debug("TLS connection: receive_async uses redis.asyncio")
                self._async_fast = None
        clients = await self._loop_clients.get()
        if len(plan) == 1:
            shard, queues = plan[0]
            wake_keys = self._wake_keys(queues)
            many = prefetchable(names)
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None, None
                pipe = clients[shard].pipeline(transaction=False)
                pipe.execute_command("BLPOP", *wake_keys, timeout_arg(remaining))
                if many:
                    pipe.execute_command(*self._receive_many_args(queues[0]))
                else:
                    pipe.execute_command(
                        *self._script_args("RECEIVE", self._now_ms(), "1", *queues)
                    )
                try:
                    if many:
                        token, entry = await self._shielded(pipe, queues[0])
                    else:
                        token, entry = await pipe.execute(raise_on_error=False)
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    raise unavailable(self._describe_shard(shard), exc) from exc
                if many:
                    if isinstance(entry, NoScriptError):
                        entry = await self._receive_many_reload(clients[shard], shard, queues[0])
                    if isinstance(entry, Exception):
                        raise entry
                    first = self._keep_prefetched(queues[0], entry)
                    if first is not None:
                        return self._decode(first)
                    if not token:
                        return None, None
                    continue
                if isinstance(entry, NoScriptError):
                    await clients[shard].script_load(_scripts.RECEIVE)
                    found = await self._receive_once_async(clients, plan, [(shard, queues[0])])
                    if found[0] is not None:
                        return found
                    continue
                if isinstance(entry, Exception):
                    raise entry
                if entry:
                    return self._decode(entry)
                if not token:
                    return None, None
        found = await self._receive_once_async(clients, plan, [])
        while found[0] is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            waits = [(shard, self._wake_keys(queues)) for shard, queues in plan]
            try:
                woken = await async_wait(clients, waits, self._wake_prefix, remaining)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                raise unavailable(self._describe_shard(waits[0][0]), exc) from exc
            found = await self._receive_once_async(clients, plan, woken)
            if not woken:
                break
        return found

    async def _receive_one_shard_fast(
        self,
        connection: AsyncFastConnection,
        plan: tuple[int, list[str]],
        many: bool,
        deadline: float,
    ) -> tuple[str, dict[str, Any]] | tuple[None, None]:
        """``receive_async`` on one shard over the lean asyncio path (:mod:`._async_fast`).

        As on the blocking path, the BLPOP on the wake-up tokens and the popping
        script go out in one packet: one round trip per message (or per
        :data:`~asgi_redis._prefetch.PREFETCH` messages on an ``x!`` prefix).
        """
        shard, queues = plan
        wake_keys = self._wake_keys(queues)
        loop = asyncio.get_running_loop()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None, None
            pop = self._pop_args(queues, many, "1")
            # If we are cancelled mid-flight, what RECEIVE_MANY popped is kept for later.
            orphan = functools.partial(self._keep_orphans, queues[0]) if many else None
            try:
                future = await connection.request(
                    [("BLPOP", *wake_keys, timeout_arg(remaining)), pop], orphan
                )
                token, entry = await connection.wait(future)
                if isinstance(entry, NoScriptError):
                    name = "RECEIVE_MANY" if many else "RECEIVE"
                    flag = "1" if token else "0"
                    load = ("SCRIPT", "LOAD", self._scripts[name].source)
                    future = await connection.request([load, self._pop_args(queues, many, flag)])
                    entry = (await connection.wait(future))[1]
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                raise unavailable(self._describe_shard(shard), exc) from exc
            if isinstance(entry, Exception):
                raise entry
            if many:
                entry = self._keep_prefetched(queues[0], entry)
            if entry:
                return self._decode(entry)
            if not token:
                return None, None

    def _keep_orphans(self, queue: str, replies: list[Any]) -> None:
        entries = replies[1]
        if isinstance(entries, list) and entries:
            self._prefetched.add(queue, entries)

    def _pop_args(self, queues: list[str], many: bool, flag: str) -> tuple[Any, ...]:
        if many:
            return self._script_args("RECEIVE_MANY", self._now_ms(), flag, PREFETCH, queues[0])
        return self._script_args("RECEIVE", self._now_ms(), flag, *queues)

    async def _shielded(self, pipe: Any, queue: str) -> list[Any]:
        """Run a prefetching pipeline so that cancelling the caller loses no message.

        If the caller is cancelled (say by ``asyncio.wait_for``) while the round trip
        is in flight, the pipeline still finishes and what it popped is buffered for
        the next receive instead of being dropped.
        """
        task = asyncio.ensure_future(pipe.execute(raise_on_error=False))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(lambda done: self._rescue(done, queue))
            raise

    def _rescue(self, task: asyncio.Future[list[Any]], queue: str) -> None:
        if not task.cancelled() and task.exception() is None:
            self._keep_orphans(queue, task.result())

    def _receive_many_args(self, queue: str) -> tuple[Any, ...]:
        return self._pop_args([queue], True, "1")

    async def _receive_many_reload(self, client: Any, shard: int, queue: str) -> Any:
        """Load RECEIVE_MANY into a server that lacks it and pop with it."""
        try:
            await client.script_load(_scripts.RECEIVE_MANY)
            return await client.execute_command(*self._receive_many_args(queue))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise unavailable(self._describe_shard(shard), exc) from exc

    def _keep_prefetched(self, queue: str, entries: list[bytes]) -> bytes | None:
        """Return the first of ``entries`` and buffer the rest for later receives."""
        if not entries:
            return None
        if len(entries) > 1:
            self._prefetched.add(queue, entries[1:])
        return entries[0]

    async def _receive_once_async(
        self, clients: list[Any], plan: list[tuple[int, list[str]]], woken: list[Woken]
    ) -> tuple[str, dict[str, Any]] | tuple[None, None]:
        credits = dict(woken)
        if credits:
            plan = sorted(plan, key=lambda item: item[0] not in credits)
        now = self._now_ms()
        for shard, queues in plan:
            flag = "1" if credits.pop(shard, None) is not None else "0"
            args = self._script_args("RECEIVE", now, flag, *queues)
            try:
                try:
                    entry = await clients[shard].execute_command(*args)
                except NoScriptError:
                    await clients[shard].script_load(_scripts.RECEIVE)
                    entry = await clients[shard].execute_command(*args)
                if entry:
                    # Tokens taken on shards we did not read from: put them back.
                    for other, queue in credits.items():
                        await clients[other].rpush(self.prefix + "w:" + queue, "")
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                raise unavailable(self._describe_shard(shard), exc) from exc
            if entry:
                return self._decode(entry)
        return None, None

    async def close_async(self) -> None:
        """Close the running event loop's connections now (they also close at loop shutdown)."""
        await self._loop_clients.aclose()
        for clients in (self._async_fast, self._async_fast_sends):
            if clients is not None:
                await clients.aclose()

    def new_channel(self, pattern: str) -> str:
        """Return a new ``?`` channel name starting with ``pattern``."""
        self.require_new_channel_pattern(pattern)
        # 12 random letters: 52**12 names, so a collision is not a practical concern.
        return pattern + self.random_suffix()

    # Groups -------------------------------------------------------------------

    def group_add(self, group: str, channel: str) -> None:
        """Add ``channel`` to ``group`` (or refresh its membership time)."""
        self.require_group_name(group)
        self.require_channel_name(channel)
        shard = self._member_shard(channel)
        self._call(shard, "GROUP_ADD", self._now_ms(), group, channel, self._group_ttl_ms)

    def group_discard(self, group: str, channel: str) -> None:
        """Remove ``channel`` from ``group`` if it is a member."""
        self.require_group_name(group)
        self.require_channel_name(channel)
        self._call(self._member_shard(channel), "GROUP_DISCARD", self._now_ms(), group, channel)

    def group_channels(self, group: str) -> list[str]:
        """Return the current members of ``group``."""
        self.require_group_name(group)
        now = self._now_ms()
        members: list[str] = []
        for shard in range(self._shards):
            found = self._call(shard, "GROUP_CHANNELS", now, group, self._cutoff(now))
            members += [name.decode("ascii") for name in found]
        return members

    def send_group(self, group: str, message: dict[str, Any]) -> None:
        """Send ``message`` to every member of ``group``; skip members that are full."""
        self.require_group_name(group)
        validate_message(message)
        payload, size = self._codec.packed_size(message)
        self.check_size(size)
        now = self._now_ms()
        cutoff = self._cutoff(now)
        expires = b"%013d" % (now + self._expiry_ms)
        for shard in range(self._shards):
            rules = self._group_rules(shard, group, now, cutoff)
            result = self._call(
                shard,
                "GROUP_SEND",
                now,
                group,
                cutoff,
                payload,
                expires,
                self._key_ttl_ms,
                self.capacity,
                self._shards,
                *rules,
            )
            self._log_full(group, result)

    def _group_rules(self, shard: int, group: str, now: int, cutoff: int) -> list[Any]:
        if self._lua_capacities is not None:
            return ["P", *self._lua_capacities]
        # Some capacities are regexes Lua cannot run: resolve them for the members here.
        members = self._call(shard, "GROUP_CHANNELS", now, group, cutoff)
        rules: list[Any] = ["C"]
        for raw in members:
            name = raw.decode("ascii")
            queue = self.non_local_name(name)
            if self._shards > 1 and not (queue[-1] == "!" or "?" in queue):
                rules += [name, self._capacity_shares(queue)[shard]]
            else:
                rules += [name, self.get_capacity(queue)]
        return rules

    @staticmethod
    def _log_full(group: str, result: list[bytes]) -> None:
        split = result.index(b"")
        if split + 1 < len(result):
            logger.debug(
                "send_group(%s) skipped %s full member(s), e.g. %s",
                group,
                len(result) - split - 1,
                result[split + 1].decode("ascii"),
            )

    # Flush and statistics -----------------------------------------------------

    def flush(self) -> None:
        """Delete every key of this layer's prefix (and its statistics) on every shard."""
        self._prefetched.clear()
        for shard in range(self._shards):
            client = self._clients[shard]
            try:
                for prefix in (self.prefix, self._stats_base):
                    batch: list[bytes] = []
                    pattern = _glob_escape(prefix) + "*"
                    for key in client.scan_iter(match=pattern, count=1000):
                        batch.append(key)
                        if len(batch) >= _scripts.FLUSH_BATCH:
                            client.unlink(*batch)
                            batch = []
                    if batch:
                        client.unlink(*batch)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                raise unavailable(self._describe_shard(shard), exc) from exc

    def global_statistics(self) -> dict[str, int | float]:
        """Return message counts, pending messages and the oldest message's age."""
        now = self._now_ms()
        rows = [self._call(shard, "STATS_GLOBAL", now) for shard in range(self._shards)]
        return combine_statistics(rows, now, self._expiry_ms)

    def channel_statistics(self, channel: str) -> dict[str, int | float]:
        """Return the statistics of ``channel`` (of its prefix for ``x!y``)."""
        self.require_channel_name(channel)
        queue = self.non_local_name(channel)
        now = self._now_ms()
        if queue[-1] == "!" or "?" in queue:
            shards = [jump_hash(queue, self._shards) if self._shards > 1 else 0]
        else:
            shards = list(range(self._shards))
        rows = [self._call(shard, "STATS_CHANNEL", now, queue) for shard in shards]
        return combine_statistics(rows, now, self._expiry_ms)

    # Internals ----------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.time_fn() * 1000)

    def _cutoff(self, now_ms: int) -> int:
        return now_ms - int(self.group_expiry * 1000)

    def _member_shard(self, channel: str) -> int:
        if self._shards == 1:
            return 0
        return jump_hash(self.non_local_name(channel), self._shards)

    def _plan(self, names: list[str]) -> list[tuple[int, list[str]]]:
        """Return ``(shard, queues)`` pairs to ask, rotated so every name gets its turn."""
        turn = next(self._rotation)
        start = turn % len(names)
        rotated = names[start:] + names[:start]
        if self._shards == 1:
            return [(0, rotated)]
        per_shard: list[list[str]] = [[] for _ in range(self._shards)]
        for name in rotated:
            if name[-1] == "!" or "?" in name:
                per_shard[jump_hash(name, self._shards)].append(name)
            else:
                for queues in per_shard:
                    queues.append(name)
        first = turn % self._shards
        order = list(range(first, self._shards)) + list(range(first))
        return [(shard, per_shard[shard]) for shard in order if per_shard[shard]]

    def _receive_once(
        self, plan: list[tuple[int, list[str]]], woken: list[Woken]
    ) -> tuple[str, dict[str, Any]] | tuple[None, None]:
        credits = dict(woken)
        if credits:
            plan = sorted(plan, key=lambda item: item[0] not in credits)
        now = self._now_ms()
        for shard, queues in plan:
            flag = "1" if credits.pop(shard, None) is not None else "0"
            entry = self._call(shard, "RECEIVE", now, flag, *queues)
            if entry:
                self._return_tokens(credits)
                return self._decode(entry)
        return None, None

    def _return_tokens(self, credits: dict[int, str]) -> None:
        # Wake-up tokens taken on other shards but not used: put them back.
        for shard, queue in credits.items():
            try:
                self._clients[shard].rpush(self.prefix + "w:" + queue, "")
            except (redis.ConnectionError, redis.TimeoutError):
                logger.warning(
                    "Could not return a wake-up token to %s", self._describe_shard(shard)
                )

    def _decode(self, entry: bytes) -> tuple[str, dict[str, Any]]:
        channel = entry_channel(entry)
        try:
            return channel, self._codec.decode(entry[13 + len(channel) + 1 :], channel)
        except MessageDecodeError:
            logger.error("Dropped an unreadable message on %s", channel)
            raise

    def _script_args(self, name: str, now: int, *args: Any) -> tuple[Any, ...]:
        return (
            "EVALSHA",
            self._scripts[name].sha,
            0,
            self.prefix,
            now,
            self._stats_base,
            self._stats_ttl_ms,
            *args,
        )

    def _wake_keys(self, queues: list[str]) -> list[str]:
        return [self.prefix + "w:" + queue for queue in queues]

    def _execute_pair(self, shard: int, first: Sequence[Any], second: Sequence[Any]) -> list[Any]:
        """Send two commands in one packet; return both replies (errors as values)."""
        if self._fast is not None:
            return self._fast.call_pair(shard, first, second)
        pipe = self._clients[shard].pipeline(transaction=False)
        pipe.execute_command(*first)
        pipe.execute_command(*second)
        return pipe.execute(raise_on_error=False)  # type: ignore[no-any-return]

    def _execute_many(self, shard: int, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send ``commands`` in one packet; return their replies (errors as values)."""
        if self._fast is not None:
            return self._fast.exchange(shard, commands)
        pipe = self._clients[shard].pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return pipe.execute(raise_on_error=False)  # type: ignore[no-any-return]

    def _execute(self, shard: int, command: Sequence[Any]) -> Any:
        """Run one command on ``shard``: the hiredis fast path if available."""
        if self._fast is not None:
            return self._fast.call(shard, command)
        return self._clients[shard].execute_command(*command)

    def _call(self, shard: int, name: str, now: int, *args: Any) -> Any:
        command = self._script_args(name, now, *args)
        try:
            try:
                return self._execute(shard, command)
            except NoScriptError:
                self._execute(shard, ("SCRIPT", "LOAD", self._scripts[name].source))
                return self._execute(shard, command)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise unavailable(self._describe_shard(shard), exc) from exc

    def close(self) -> None:
        """Close every pooled connection (the layer reconnects if used again)."""
        if self._fast is not None:
            self._fast.close()
        for client in self._clients:
            client.connection_pool.disconnect()

    def __repr__(self) -> str:
        shards = ", ".join(self._describe_shard(shard) for shard in range(self._shards))
        return (
            f"<{type(self).__module__}.{type(self).__qualname__} {shards} prefix={self.prefix!r}>"
        )


def _capacity_rules(channel_capacity: Mapping[CapacityPattern, int] | None) -> list[str] | None:
    """Return Lua (pattern, capacity) arguments, or None if a pattern is a regex."""
    rules: list[str] = []
    for pattern, capacity in (channel_capacity or {}).items():
        translated = glob_to_lua(pattern) if isinstance(pattern, str) else None
        if translated is None:
            return None
        rules += [translated, str(capacity)]
    return rules


def _require_prefix(name: str, value: object) -> str:
    if not isinstance(value, str) or not value or not value.isprintable() or " " in value:
        raise ValueError(
            f"{name} is {value!r}; it must be a non-empty string without spaces, such as 'asgi:'."
        )
    return value


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
