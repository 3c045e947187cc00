"""The IPC channel layer: the ASGI 1 API over the shared-memory store.

How this works
--------------
A layer instance maps its prefix's segment (``_segment``) and runs every
operation as one short critical section under the crash-safe segment lock
(``_locks``). Encoding and decoding with msgpack happen outside the lock;
inside it a send is a hash lookup, a block allocation and one memcpy
(``_store``), a receive the reverse, so the cost follows the message, not
what else is stored. Group fan-out encodes once and enqueues in batches of
:data:`FANOUT_BATCH` members per lock hold, so other processes get a turn.

Blocking receive claims a waiter slot and sleeps on its semaphore
(``_waiters``); senders post it. ``receive_async`` does the same, but the
semaphore wait runs in a small thread pool owned by the layer, so the event
loop never blocks; when the awaiting task is cancelled the layer posts the
semaphore itself so the pool thread returns at once. Both give up after
``receive_timeout`` seconds.

Times (message expiry, group membership) are wall-clock ``time.time()``
seconds, shared by every process; pass ``time_fn`` to move time in tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgpack
import posix_ipc
from asgiref.base_layer import DEFAULT_MESSAGE_SIZE_LIMIT, BaseChannelLayer, CapacityPattern

from ._groups import GroupStore
from ._locks import Journal, SegmentLock, init_mutex
from ._reset import reset_store
from ._segment import BLOCK, Layout, open_segment, segment_name, validate_prefix
from ._stats import zero_counters
from ._store import (
    FULL,
    H_JOURNAL_LEN,
    H_MUTEX,
    H_RESET,
    KIND_CHANNEL,
    NO_MEMORY,
    StoreFullError,
)
from ._waiters import Waiters

__all__ = ["IPCChannelLayer"]

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
FANOUT_BATCH = 64
_NAME_CACHE = 4096  # checked channel names remembered per layer instance
_MAX_POLL = 0.05
_Found = tuple[bytes, bytes] | None


def _queue_key(name: bytes) -> bytes:
    index = name.find(b"!")
    return name if index < 0 else name[: index + 1]


def _wait(semaphore: posix_ipc.Semaphore, timeout: float) -> None:
    try:
        semaphore.acquire(timeout)
    except (posix_ipc.BusyError, posix_ipc.SignalError):
        # A signal (a worker's SIGTERM) ends the wait early, like a timeout: back in
        # Python its handler runs, and the caller looks at the queues again, as the
        # standard library does for system calls interrupted by a signal (PEP 475).
        return


class IPCChannelLayer(BaseChannelLayer):
    """Channel layer for processes on one machine, through POSIX shared memory.

    Layers with the same ``prefix`` share messages and groups; different
    prefixes are isolated. Provides ``groups``, ``flush``, ``statistics`` and
    ``async``.
    """

    extensions = ["groups", "flush", "statistics", "async"]

    def __init__(
        self,
        prefix: str = "asgi",
        expiry: float = 60,
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: Mapping[CapacityPattern, int] | None = None,
        message_memory: int = 100 * MIB,
        group_memory: int = 20 * MIB,
        receive_timeout: float = 5.0,
        message_size_limit: int = DEFAULT_MESSAGE_SIZE_LIMIT,
        time_fn: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            message_size_limit=message_size_limit,
            time_fn=time_fn or time.time,
        )
        self.prefix = validate_prefix(prefix)
        for label, value, least in (
            ("message_memory", message_memory, 64 * 1024),
            ("group_memory", group_memory, 16 * 1024),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(
                    f"{label} is {value!r}; it must be an int of at least {least} bytes, "
                    f"for example {label}={100 * MIB if label == 'message_memory' else 20 * MIB}."
                )
        if isinstance(receive_timeout, bool) or not isinstance(receive_timeout, int | float):
            raise TypeError(f"receive_timeout is {receive_timeout!r}; it must be a number.")
        if receive_timeout <= 0:
            raise ValueError(f"receive_timeout is {receive_timeout!r}; it must be positive.")
        self.receive_timeout = float(receive_timeout)
        shm, self._mm, layout, created = open_segment(prefix, message_memory, group_memory)
        shm.close_fd()  # the map keeps the memory; the descriptor is not needed
        if not created and layout != Layout.plan(message_memory, group_memory):
            logger.info(
                "Prefix %s already exists with other memory sizes; using the existing layout",
                prefix,
            )
        # Big messages must fit in the data region with room to spare.
        room = layout.n_blocks * BLOCK // 2
        self.message_size_limit = min(self.message_size_limit, room)
        self._store = GroupStore(self._mm, layout)
        self._journal = Journal(self._mm, layout.journal, layout.slots - layout.journal,
                                H_JOURNAL_LEN)  # fmt: skip
        if created:
            init_mutex(self._mm, H_MUTEX)
        self._lock = SegmentLock(H_MUTEX, self._journal, H_RESET, self._repair)
        self._waiters = Waiters(self._store, prefix)
        self._rotation = 0
        # One Packer per layer (msgpack.packb builds one per call). Sharing it between
        # threads is safe: check_message leaves only plain types, which Packer.pack
        # encodes in C without releasing the GIL or running Python code.
        self._pack = msgpack.Packer(use_bin_type=True).pack
        # Checked names, so that repeated sends and receives skip the name checks.
        self._targets: dict[str, tuple[bytes, bytes, int]] = {}
        self._receive_keys: dict[tuple[str, ...], list[bytes]] = {}
        self._executor: ThreadPoolExecutor | None = None
        # Semaphores a pool thread is waiting on for an uncancelled receive_async.
        self._pool_waits: set[posix_ipc.Semaphore] = set()
        if created:
            with self._lock:
                self._mm[: len(layout.pack())] = layout.pack()
            logger.info("Created shared memory %s (%s bytes)", segment_name(prefix), layout.end)

    def _repair(self) -> None:
        logger.warning("A process died while flushing prefix %s; finishing it", self.prefix)
        reset_store(self._store)

    # Encoding -----------------------------------------------------------------

    def _encode(self, message: dict[str, Any]) -> bytes:
        copied, _size = self.check_message(message)
        try:
            payload: bytes = self._pack(copied)
        except BaseException:
            self._pack = msgpack.Packer(use_bin_type=True).pack  # drop any half-packed state
            raise
        self.check_size(len(payload))
        return payload

    @staticmethod
    def _decode(found: tuple[bytes, bytes]) -> tuple[str, dict[str, Any]]:
        channel, payload = found
        return channel.decode("ascii"), msgpack.unpackb(payload, raw=False)

    # Core API -----------------------------------------------------------------

    def _target(self, channel: str) -> tuple[bytes, bytes, int]:
        """Return (queue key, full name if it differs or b"", capacity) for ``channel``."""
        target = self._targets.get(channel) if type(channel) is str else None
        if target is None:
            self.require_channel_name(channel)
            name = channel.encode("ascii")
            key = _queue_key(name)
            target = (key, name if key != name else b"", self.get_capacity(channel))
            if len(self._targets) >= _NAME_CACHE:
                self._targets.clear()
            self._targets[channel] = target
        return target

    def _keys(self, channels: Iterable[str]) -> list[bytes]:
        """Return the queue keys of ``channels`` after checking them (cached)."""
        probe = tuple(channels) if type(channels) in (list, tuple) else None
        try:
            keys = self._receive_keys.get(probe) if probe is not None else None
        except TypeError:  # an unhashable name: let the check below explain it
            probe = keys = None
        if keys is None:
            keys = [name.encode("ascii") for name in self.require_receive_names(channels)]
            if probe is not None:
                if len(self._receive_keys) >= _NAME_CACHE:
                    self._receive_keys.clear()
                self._receive_keys[probe] = keys
        return keys

    def send(self, channel: str, message: dict[str, Any]) -> None:
        """Queue ``message`` on ``channel``; raise ChannelFull at capacity or out of memory."""
        key, name, capacity = self._target(channel)
        payload = self._encode(message)
        with self._lock as j:
            now = self.time_fn()
            status, waiters = self._store.enqueue(
                j, key, name, payload, now + self.expiry, capacity, now
            )
        if waiters:
            self._waiters.wake(waiters)
        if status == FULL:
            raise self.ChannelFull(
                f"Channel {channel!r} holds {capacity} messages, its capacity; wait for "
                "readers to catch up or raise the capacity."
            )
        if status == NO_MEMORY:
            raise self.ChannelFull(
                f"The shared memory of prefix {self.prefix!r} is full, so {channel!r} cannot "
                "take another message; wait for readers or raise message_memory."
            )

    def _pop(self, j: Journal, keys: list[bytes]) -> _Found:
        now = self.time_fn()
        count = len(keys)
        if count == 1:
            return self._store.pop(j, keys[0], now)
        start = self._rotation % count
        self._rotation += 1
        pop = self._store.pop
        for offset in range(count):
            found = pop(j, keys[(start + offset) % count], now)
            if found is not None:
                return found
        return None

    def _pop_or_register(self, keys: list[bytes], slot: int) -> tuple[_Found, int, bool]:
        """Pop a message, or register ``slot`` (claimed if -1) as waiting on ``keys``."""
        with self._lock as j:
            found = self._pop(j, keys)
            if found is not None:
                if slot >= 0:
                    self._waiters.release(j, slot)
                return found, -1, False
            if slot < 0:
                slot = self._waiters.claim(j)
            registered = slot >= 0 and self._waiters.register(j, slot, keys, self.time_fn())
            return None, slot, registered

    def _release_slot(self, slot: int) -> None:
        if slot >= 0:
            with self._lock as j:
                self._waiters.release(j, slot)

    def receive(
        self, channels: Iterable[str], block: bool = False
    ) -> tuple[str, dict[str, Any]] | tuple[None, None]:
        """Return ``(channel, message)`` from one of ``channels``, or ``(None, None)``.

        With ``block=True`` wait up to ``receive_timeout`` seconds for a message.
        """
        keys = self._keys(channels)
        if not keys:
            return None, None
        if not block:
            with self._lock as j:
                found = self._pop(j, keys)
            return (None, None) if found is None else self._decode(found)
        deadline = time.monotonic() + self.receive_timeout
        slot, delay = -1, 0.001
        try:
            while True:
                found, slot, registered = self._pop_or_register(keys, slot)
                if found is not None:
                    return self._decode(found)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None, None
                if registered:
                    _wait(self._waiters.semaphore(slot), remaining)
                else:
                    time.sleep(min(delay, remaining))
                    delay = min(delay * 2, _MAX_POLL)
        finally:
            self._release_slot(slot)

    async def receive_async(
        self, channels: Iterable[str]
    ) -> tuple[str, dict[str, Any]] | tuple[None, None]:
        """Await a message on any of ``channels`` for up to ``receive_timeout`` seconds."""
        keys = self._keys(channels)
        if not keys:
            return None, None
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.receive_timeout
        slot, delay = -1, 0.001
        try:
            while True:
                found, slot, registered = self._pop_or_register(keys, slot)
                if found is not None:
                    return self._decode(found)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None, None
                if not registered:
                    await asyncio.sleep(min(delay, remaining))
                    delay = min(delay * 2, _MAX_POLL)
                    continue
                semaphore = self._waiters.semaphore(slot)
                self._pool_waits.add(semaphore)
                try:
                    await loop.run_in_executor(self._pool(), _wait, semaphore, remaining)
                except asyncio.CancelledError:
                    semaphore.release()  # let the pool thread return now
                    raise
                finally:
                    self._pool_waits.discard(semaphore)
        finally:
            self._release_slot(slot)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(32, thread_name_prefix="asgi_ipc-wait")
        return self._executor

    def new_channel(self, pattern: str) -> str:
        """Return a new ``?`` channel name starting with ``pattern`` that holds no messages."""
        self.require_new_channel_pattern(pattern)
        while True:
            name = pattern + self.random_suffix()
            with self._lock as j:
                count, _oldest = self._store.queue_state(name.encode("ascii"), self.time_fn(), j)
            if not count:
                return name

    # Groups -------------------------------------------------------------------

    def group_add(self, group: str, channel: str) -> None:
        """Add ``channel`` to ``group`` (or refresh its membership time)."""
        self.require_group_name(group)
        self.require_channel_name(channel)
        try:
            with self._lock as j:
                self._store.group_add(j, group.encode(), channel.encode(), self.time_fn())
        except StoreFullError as exc:
            raise self.ChannelFull(
                f"The group memory of prefix {self.prefix!r} is full, so {channel!r} cannot "
                f"join {group!r}; discard stale members or raise group_memory."
            ) from exc

    def group_discard(self, group: str, channel: str) -> None:
        """Remove ``channel`` from ``group`` if it is a member."""
        self.require_group_name(group)
        self.require_channel_name(channel)
        with self._lock as j:
            self._store.group_discard(j, group.encode(), channel.encode())

    def _members(self, j: Journal, group: str) -> list[bytes]:
        now = self.time_fn()
        return self._store.members(j, group.encode(), now, now - self.group_expiry, _queue_key)

    def group_channels(self, group: str) -> list[str]:
        """Return the current members of ``group``."""
        self.require_group_name(group)
        with self._lock as j:
            members = self._members(j, group)
        return [name.decode("ascii") for name in members]

    def send_group(self, group: str, message: dict[str, Any]) -> None:
        """Send ``message`` to every member of ``group``, silently skipping full channels."""
        self.require_group_name(group)
        payload = self._encode(message)
        with self._lock as j:
            members = self._members(j, group)
        enqueue = self._store.enqueue
        for start in range(0, len(members), FANOUT_BATCH):
            wake = 0
            with self._lock as j:
                now = self.time_fn()
                expires = now + self.expiry
                for name in members[start : start + FANOUT_BATCH]:
                    key = _queue_key(name)
                    capacity = self.get_capacity(name.decode("ascii"))
                    channel = name if key != name else b""
                    _status, waiters = enqueue(j, key, channel, payload, expires, capacity, now)
                    wake |= waiters
                    j.checkpoint()
            if wake:
                self._waiters.wake(wake)

    # Flush and statistics -----------------------------------------------------

    def flush(self) -> None:
        """Drop every message, group and counter of this prefix."""
        with self._lock:
            reset_store(self._store)

    def global_statistics(self) -> dict[str, int | float]:
        """Return counters and queue figures across all channels of the prefix."""
        with self._lock as j:
            now = self.time_fn()
            pending, oldest = self._store.sweep(j, now)
            stats = self._store.counters(None, now)
        stats["messages_pending"] = pending
        stats["messages_max_age"] = max(0.0, now - (oldest - self.expiry)) if oldest else 0
        return stats

    def channel_statistics(self, channel: str) -> dict[str, int | float]:
        """Return counters and queue figures for ``channel`` (its prefix for ``x!y``)."""
        self.require_channel_name(channel)
        key = _queue_key(channel.encode("ascii"))
        with self._lock as j:
            now = self.time_fn()
            pending, oldest = self._store.queue_state(key, now, j)
            entry = self._store.find(KIND_CHANNEL, key)
            stats = self._store.counters(entry, now) if entry else zero_counters()
        stats["messages_pending"] = pending
        stats["messages_max_age"] = max(0.0, now - (oldest - self.expiry)) if oldest else 0
        return stats

    # Lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        """Release this instance's mapping, descriptor, semaphores and threads."""
        if self._executor is not None:
            # A pool thread still inside sem_timedwait would crash the process if its
            # semaphore were closed under it: wake the waits still pending, then wait for
            # every pool thread to return before closing the handles.
            for semaphore in list(self._pool_waits):
                semaphore.release()
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._waiters.close()
        self._lock.close()
        self._mm.close()

    def __repr__(self) -> str:
        return f"<asgi_ipc.IPCChannelLayer prefix={self.prefix!r}>"
