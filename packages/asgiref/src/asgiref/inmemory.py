"""The in-memory channel layer: one process, many threads, no server.

How this works
--------------
Messages live in FIFO queues keyed by *queue name*: the channel name itself,
or for process-specific channels (``x!y``) the non-local prefix ``x!``, so all
of a prefix's channels share one queue, one capacity and one order, and a
receive on ``x!`` pops them in the order they were sent. Each entry is
``(expires_at, channel, message)``; the expiry is the same for every message,
so the oldest entry is always at the front and expiring is a pop from the left.

Expired entries are removed whenever their queue is touched (send, receive,
statistics) and in a sweep over all queues at most once per second, so they
never count against capacity. When an entry expires unread its channel (the
full ``x!y`` name for process-specific ones) is dropped from every group, via a
reverse index from channel to groups. Group memberships older than
``group_expiry`` are dropped when the group is read or sent to.

A blocking or async receive that finds nothing registers a waiter on each
queue it reads; a send wakes the waiters of its queue. Sync waiters are
``threading.Event``\\s; async waiters are futures completed through their
loop's ``call_soon_threadsafe``, so a sender on any thread wakes an awaiting
coroutine without polling. Both give up after ``receive_timeout`` seconds.

One ``threading.Lock`` guards everything; no I/O or user code runs under it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from asgiref.base_layer import BaseChannelLayer, CapacityPattern, copy_message
from asgiref.layer_statistics import CounterTable

__all__ = ["ChannelLayer", "channel_layer"]

_Entry = tuple[float, str, dict[str, Any]]
_SWEEP_INTERVAL = 1.0


class _Waiter:
    """Something a receive is blocked on: a thread's event or a loop's future."""

    __slots__ = ("event", "future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop
        self.event: threading.Event | None = None
        self.future: asyncio.Future[None] | None = None
        if loop is None:
            self.event = threading.Event()
        else:
            self.future = loop.create_future()

    def wake(self) -> None:
        if self.event is not None:
            self.event.set()
        elif self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(_resolve, self.future)


def _resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


class ChannelLayer(BaseChannelLayer):
    """In-memory channel layer for one process (``runserver`` and tests).

    Thread-safe; provides the ``groups``, ``flush``, ``statistics`` and
    ``async`` extensions.
    """

    extensions = ["groups", "flush", "statistics", "async"]

    def __init__(
        self,
        expiry: float = 60,
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: Mapping[CapacityPattern, int] | None = None,
        receive_timeout: float = 5.0,
        time_fn: Callable[[], float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            time_fn=time_fn or time.monotonic,
            **kwargs,
        )
        if receive_timeout <= 0:
            raise ValueError(f"receive_timeout is {receive_timeout!r}; it must be positive.")
        self.receive_timeout = receive_timeout
        self._lock = threading.Lock()
        self._queues: dict[str, deque[_Entry]] = {}
        self._groups: dict[str, dict[str, float]] = {}
        self._memberships: dict[str, set[str]] = {}
        self._waiters: dict[str, set[_Waiter]] = {}
        self._counters = CounterTable(self.time_fn)
        self._next_sweep = 0.0
        self._rotation = 0

    # Core API -----------------------------------------------------------------

    def send(self, channel: str, message: dict[str, Any]) -> None:
        """Queue a copy of ``message`` on ``channel``; raise ChannelFull at capacity."""
        self.require_channel_name(channel)
        copied, _size = self.check_message(message)
        with self._lock:
            now = self.time_fn()
            if not self._enqueue(channel, copied, now):
                raise self.ChannelFull(
                    f"Channel {channel!r} holds {self.get_capacity(channel)} messages, its "
                    "capacity; wait for readers to catch up or raise the capacity."
                )
            self._maybe_sweep(now)

    def receive(
        self, channels: Iterable[str], block: bool = False
    ) -> tuple[str, dict[str, Any]] | tuple[None, None]:
        """Return ``(channel, message)`` from one of ``channels``, or ``(None, None)``.

        With ``block=True`` wait up to ``receive_timeout`` seconds for a message.
        """
        names = self.require_receive_names(channels)
        if not names:
            return None, None
        deadline = time.monotonic() + self.receive_timeout
        while True:
            with self._lock:
                found = self._pop_first(names)
                if found[0] is not None or not block:
                    return found
                waiter = _Waiter()
                self._register(waiter, names)
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0 or not waiter.event.wait(remaining):  # type: ignore[union-attr]
                    with self._lock:
                        return self._pop_first(names)
            finally:
                with self._lock:
                    self._unregister(waiter, names)

    async def receive_async(
        self, channels: Iterable[str]
    ) -> tuple[str, dict[str, Any]] | tuple[None, None]:
        """Await a message on any of ``channels`` for up to ``receive_timeout`` seconds."""
        names = self.require_receive_names(channels)
        if not names:
            return None, None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.receive_timeout
        while True:
            with self._lock:
                found = self._pop_first(names)
                if found[0] is not None:
                    return found
                waiter = _Waiter(loop)
                self._register(waiter, names)
            try:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    with self._lock:
                        return self._pop_first(names)
                try:
                    await asyncio.wait_for(waiter.future, remaining)  # type: ignore[arg-type]
                except TimeoutError:
                    with self._lock:
                        return self._pop_first(names)
            finally:
                with self._lock:
                    self._unregister(waiter, names)

    def new_channel(self, pattern: str) -> str:
        """Return a new, unused ``?`` channel name starting with ``pattern``."""
        self.require_new_channel_pattern(pattern)
        while True:
            name = pattern + self.random_suffix()
            with self._lock:
                if name not in self._queues:
                    return name

    # Groups -------------------------------------------------------------------

    def group_add(self, group: str, channel: str) -> None:
        """Add ``channel`` to ``group`` (or refresh its membership time)."""
        self.require_group_name(group)
        self.require_channel_name(channel)
        with self._lock:
            self._groups.setdefault(group, {})[channel] = self.time_fn()
            self._memberships.setdefault(channel, set()).add(group)

    def group_discard(self, group: str, channel: str) -> None:
        """Remove ``channel`` from ``group`` if it is a member."""
        self.require_group_name(group)
        self.require_channel_name(channel)
        with self._lock:
            self._remove_member(group, channel)

    def group_channels(self, group: str) -> list[str]:
        """Return a copy of the current members of ``group``."""
        self.require_group_name(group)
        with self._lock:
            return list(self._live_members(group, self.time_fn()))

    def send_group(self, group: str, message: dict[str, Any]) -> None:
        """Send ``message`` to every member of ``group``, skipping full channels."""
        self.require_group_name(group)
        copied, _size = self.check_message(message)
        with self._lock:
            now = self.time_fn()
            members = self._live_members(group, now)
            for index, channel in enumerate(members):
                body = copied if index == 0 else copy_message(copied)[0]
                self._enqueue(channel, body, now)

    # Flush and statistics -----------------------------------------------------

    def flush(self) -> None:
        """Drop every message, group and counter, atomically."""
        with self._lock:
            self._queues.clear()
            self._groups.clear()
            self._memberships.clear()
            self._counters.clear()

    def global_statistics(self) -> dict[str, int | float]:
        """Return counters and queue figures across all channels."""
        with self._lock:
            now = self.time_fn()
            self._sweep(now)
            stats = self._counters.global_dict()
            stats["messages_pending"] = sum(len(queue) for queue in self._queues.values())
            oldest = [queue[0][0] for queue in self._queues.values() if queue]
            stats["messages_max_age"] = self._age(min(oldest), now) if oldest else 0
            return stats

    def channel_statistics(self, channel: str) -> dict[str, int | float]:
        """Return counters and queue figures for ``channel`` (its prefix for ``x!y``)."""
        self.require_channel_name(channel)
        key = self.non_local_name(channel)
        with self._lock:
            now = self.time_fn()
            queue = self._live_queue(key, now)
            stats = self._counters.channel_dict(key)
            stats["messages_pending"] = len(queue) if queue else 0
            stats["messages_max_age"] = self._age(queue[0][0], now) if queue else 0
            return stats

    # Internals (all called with the lock held) --------------------------------

    def _age(self, expires_at: float, now: float) -> float:
        return max(0.0, now - (expires_at - self.expiry))

    def _enqueue(self, channel: str, message: dict[str, Any], now: float) -> bool:
        key = self.non_local_name(channel)
        queue = self._live_queue(key, now)
        if queue is None:
            queue = self._queues[key] = deque()
        if len(queue) >= self.get_capacity(key):
            self._counters.channel_full(key)
            return False
        queue.append((now + self.expiry, channel, message))
        self._counters.message(key)
        waiters = self._waiters.pop(key, None)
        if waiters:
            for waiter in waiters:
                waiter.wake()
        return True

    def _live_queue(self, key: str, now: float) -> deque[_Entry] | None:
        queue = self._queues.get(key)
        if queue is None:
            return None
        while queue and queue[0][0] <= now:
            _expires, channel, _message = queue.popleft()
            self._evict(channel)
        if not queue:
            del self._queues[key]
            return None
        return queue

    def _pop_first(self, names: list[str]) -> tuple[str, dict[str, Any]] | tuple[None, None]:
        now = self.time_fn()
        count = len(names)
        # Start each receive at a different channel so a busy one cannot starve the rest.
        start = self._rotation % count
        self._rotation += 1
        for offset in range(count):
            queue = self._live_queue(names[(start + offset) % count], now)
            if queue:
                _expires, channel, message = queue.popleft()
                if not queue:
                    del self._queues[self.non_local_name(channel)]
                return channel, message
        return None, None

    def _register(self, waiter: _Waiter, names: list[str]) -> None:
        for name in names:
            self._waiters.setdefault(name, set()).add(waiter)

    def _unregister(self, waiter: _Waiter, names: list[str]) -> None:
        for name in names:
            waiting = self._waiters.get(name)
            if waiting is not None:
                waiting.discard(waiter)
                if not waiting:
                    del self._waiters[name]

    def _evict(self, channel: str) -> None:
        for group in self._memberships.pop(channel, ()):
            members = self._groups.get(group)
            if members is not None:
                members.pop(channel, None)
                if not members:
                    del self._groups[group]

    def _remove_member(self, group: str, channel: str) -> None:
        members = self._groups.get(group)
        if members is not None and members.pop(channel, None) is not None:
            if not members:
                del self._groups[group]
            groups = self._memberships.get(channel)
            if groups is not None:
                groups.discard(group)
                if not groups:
                    del self._memberships[channel]

    def _live_members(self, group: str, now: float) -> list[str]:
        members = self._groups.get(group)
        if not members:
            return []
        # Expire messages on member channels first: that may evict members.
        for key in {self.non_local_name(channel) for channel in members}:
            self._live_queue(key, now)
        members = self._groups.get(group, {})
        cutoff = now - self.group_expiry
        for channel in [c for c, added in members.items() if added <= cutoff]:
            self._remove_member(group, channel)
        return list(self._groups.get(group, ()))

    def _maybe_sweep(self, now: float) -> None:
        if now >= self._next_sweep:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + _SWEEP_INTERVAL
        for key in list(self._queues):
            self._live_queue(key, now)


#: The shared instance that ``"asgiref.inmemory.ChannelLayer"`` settings and
#: ``daphne asgiref.inmemory:channel_layer`` refer to.
channel_layer = ChannelLayer()
