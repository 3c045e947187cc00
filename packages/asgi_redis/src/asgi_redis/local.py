"""RedisLocalChannelLayer: normal channels in local shared memory, the rest on Redis.

How this works
--------------
Interface servers and workers on one machine hand each other normal-channel
messages (``http.request``, ``websocket.receive``) through an
:class:`asgi_ipc.IPCChannelLayer`, which costs no network round trip. Reply
channels (``?`` and ``!``) and group memberships of those go through a
:class:`~asgi_redis.RedisChannelLayer`, so replies and broadcasts still reach
interface servers on other machines, as in asgi_redis 1.x.

A normal channel exists on this machine only, so its group memberships are kept
in the local store: ``send_group`` sends through both stores, ``group_channels``
merges both, and each store applies its own expiry, capacity and eviction rules.

A receive on normal names only waits on the local store, one on ``?``/``!``
names only waits on Redis (both wake at once). A blocking receive that mixes
both waits on the local store in short slices (``local_wait``) and checks Redis
between them, so a Redis message waits at most one slice.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from asgiref.base_layer import BaseChannelLayer, CapacityPattern

from .core import RedisChannelLayer

__all__ = ["RedisLocalChannelLayer"]

_Result = tuple[str, dict[str, Any]] | tuple[None, None]


def _is_local(name: str) -> bool:
    return "!" not in name and "?" not in name


class RedisLocalChannelLayer(BaseChannelLayer):
    """Normal channels over local ``asgi_ipc``; ``?``/``!`` channels over Redis.

    Needs the optional dependency: ``pip install 'asgi-redis[local]'``. Takes the
    settings of :class:`~asgi_redis.RedisChannelLayer` plus ``ipc_prefix`` (the
    shared-memory name, default: ``prefix`` without its colon), ``ipc_options``
    (extra :class:`asgi_ipc.IPCChannelLayer` settings) and ``local_wait``.
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
        receive_timeout: float = 5.0,
        ipc_prefix: str | None = None,
        ipc_options: Mapping[str, Any] | None = None,
        local_wait: float = 0.05,
        time_fn: Callable[[], float] | None = None,
        **redis_options: Any,
    ) -> None:
        super().__init__(
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            time_fn=time_fn,
        )
        if (
            isinstance(local_wait, bool)
            or not isinstance(local_wait, int | float)
            or not 0 < local_wait <= receive_timeout
        ):
            raise ValueError(
                f"local_wait is {local_wait!r}; it must be a positive number of seconds, at "
                f"most receive_timeout ({receive_timeout!r})."
            )
        self.receive_timeout = receive_timeout
        self.local_wait = float(local_wait)
        self.remote = RedisChannelLayer(
            hosts=hosts,
            prefix=prefix,
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            receive_timeout=receive_timeout,
            time_fn=time_fn,
            **redis_options,
        )
        options = dict(ipc_options or {})
        options.setdefault("expiry", expiry)
        options.setdefault("group_expiry", group_expiry)
        options.setdefault("capacity", capacity)
        options.setdefault("channel_capacity", channel_capacity)
        if time_fn is not None:
            options.setdefault("time_fn", time_fn)
        options["receive_timeout"] = self.local_wait
        name = ipc_prefix or "".join(char for char in prefix if char.isalnum() or char in "-_")
        self.local = self.make_local_layer(name or "asgi", options)

    def make_local_layer(self, prefix: str, options: dict[str, Any]) -> Any:
        """Return the ``asgi_ipc`` layer for normal channels (override to customise)."""
        try:
            module = importlib.import_module("asgi_ipc")
        except ImportError as exc:
            raise ImportError(
                "RedisLocalChannelLayer needs asgi-ipc: pip install 'asgi-redis[local]'."
            ) from exc
        return module.IPCChannelLayer(prefix=prefix, **options)

    def _translate(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except (self.local.ChannelFull, self.remote.ChannelFull) as exc:
            raise self.ChannelFull(str(exc)) from exc
        except (self.local.MessageTooLarge, self.remote.MessageTooLarge) as exc:
            raise self.MessageTooLarge(str(exc)) from exc

    def _store(self, channel: str) -> Any:
        return self.local if _is_local(channel) else self.remote

    # Core API -----------------------------------------------------------------

    def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send ``message``: locally for normal channels, over Redis otherwise."""
        self.require_channel_name(channel)
        target = self._store(channel)
        self._translate(lambda: target.send(channel, message))

    def receive(self, channels: Iterable[str], block: bool = False) -> _Result:
        """Return ``(channel, message)`` from the local store or Redis, or ``(None, None)``."""
        names = list(dict.fromkeys(self.require_receive_names(channels)))
        local_names = [name for name in names if _is_local(name)]
        remote_names = [name for name in names if not _is_local(name)]
        if not local_names:
            return self.remote.receive(remote_names, block) if remote_names else (None, None)
        if not remote_names and not block:
            return self.local.receive(local_names, False)  # type: ignore[no-any-return]
        deadline = time.monotonic() + self.receive_timeout
        while True:
            found: _Result = self.local.receive(local_names, False)
            if found[0] is None and remote_names:
                found = self.remote.receive(remote_names, False)
            if found[0] is not None or not block or time.monotonic() >= deadline:
                return found
            # One slice on the local store; it wakes at once for a local send.
            found = self.local.receive(local_names, True)
            if found[0] is not None:
                return found

    async def receive_async(self, channels: Iterable[str]) -> _Result:
        """Await a message on any of ``channels`` for up to ``receive_timeout`` seconds."""
        names = self.require_receive_names(channels)
        if names and not any(_is_local(name) for name in names):
            return await self.remote.receive_async(names)
        return await asyncio.to_thread(self.receive, names, True)

    def new_channel(self, pattern: str) -> str:
        """Return a new ``?`` channel name starting with ``pattern``."""
        return self.remote.new_channel(pattern)

    # Groups -------------------------------------------------------------------

    def group_add(self, group: str, channel: str) -> None:
        """Add ``channel`` to ``group`` in the store that holds the channel."""
        self.require_group_name(group)
        self._store(self.require_channel_name(channel)).group_add(group, channel)

    def group_discard(self, group: str, channel: str) -> None:
        """Remove ``channel`` from ``group``."""
        self.require_group_name(group)
        self._store(self.require_channel_name(channel)).group_discard(group, channel)

    def group_channels(self, group: str) -> list[str]:
        """Return the members of ``group`` from both stores."""
        self.require_group_name(group)
        return [*self.local.group_channels(group), *self.remote.group_channels(group)]

    def send_group(self, group: str, message: dict[str, Any]) -> None:
        """Send ``message`` to every member of ``group`` in both stores."""
        self.require_group_name(group)
        self._translate(lambda: self.local.send_group(group, message))
        self._translate(lambda: self.remote.send_group(group, message))

    # Flush and statistics -----------------------------------------------------

    def flush(self) -> None:
        """Empty the local store and this layer's keys on Redis."""
        self.local.flush()
        self.remote.flush()

    def channel_statistics(self, channel: str) -> dict[str, int | float]:
        """Return statistics for ``channel`` from the store that holds it."""
        self.require_channel_name(channel)
        stats: dict[str, int | float] = self._store(channel).channel_statistics(channel)
        return stats

    def global_statistics(self) -> dict[str, int | float]:
        """Return statistics across both stores."""
        first = self.local.global_statistics()
        second = self.remote.global_statistics()
        merged: dict[str, int | float] = {}
        for key in set(first) | set(second):
            if key == "messages_max_age":
                merged[key] = max(first.get(key, 0), second.get(key, 0))
            else:
                merged[key] = first.get(key, 0) + second.get(key, 0)
        return merged

    def close(self) -> None:
        """Close the Redis connections and detach from the shared memory."""
        self.remote.close()
        close: Callable[[], None] | None = getattr(self.local, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"<asgi_redis.RedisLocalChannelLayer remote={self.remote!r}>"
