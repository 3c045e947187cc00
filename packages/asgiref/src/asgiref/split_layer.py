"""LocalRemoteChannelLayer: normal channels on a local layer, the rest on a remote one.

How this works
--------------
A composite layer wraps two already-built layers. ``local`` (typically an
``asgi_ipc`` shared-memory layer) carries normal channels (``http.request``,
``websocket.receive``), which interface servers and workers on one machine hand
each other without a network round trip. ``remote`` (Redis, RabbitMQ) carries
reply channels (``?`` and ``!``), which may be read on another machine.

Routing is by name alone: a name holding ``?`` or ``!`` goes to ``remote``,
anything else to ``local``. A group membership lives in the store that holds
the member channel, so ``send_group`` sends through both stores,
``group_channels`` lists both, and each store applies its own expiry, capacity
and eviction rules. ``flush`` empties both; ``global_statistics`` adds the
counters of both (``messages_max_age`` takes the larger age). ChannelFull and
MessageTooLarge raised by either store are re-raised as this layer's own.

``receive`` on normal names only waits on ``local``; on ``?``/``!`` names only
it waits on ``remote``. Both wake at once for a send. A blocking receive that
mixes both checks each store without blocking, then waits one ``local_wait``
slice on ``local`` (which wakes at once for a local send), until a message
arrives or ``receive_timeout`` passes, so a remote message waits at most one
slice. ``local`` must therefore be built with ``receive_timeout=local_wait``.
``receive_async`` awaits ``remote.receive_async`` for ``?``/``!`` names only
(no thread held while waiting); otherwise it runs the blocking ``receive`` in
:meth:`~LocalRemoteChannelLayer.receive_executor` (the loop's default pool
unless a subclass supplies one).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import importlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .base_layer import BaseChannelLayer, CapacityPattern

__all__ = [
    "LocalRemoteChannelLayer",
    "check_local_wait",
    "ipc_local_layer",
    "is_local_name",
    "local_layer_options",
]

_Result = tuple[str, dict[str, Any]] | tuple[None, None]


def is_local_name(name: str) -> bool:
    """Return whether ``name`` belongs on the local store (it has no ``?`` or ``!``)."""
    return "!" not in name and "?" not in name


def check_local_wait(local_wait: object, receive_timeout: float) -> float:
    """Return ``local_wait`` as a float after checking it is in ``(0, receive_timeout]``."""
    if isinstance(local_wait, bool) or not isinstance(local_wait, int | float):
        raise TypeError(f"local_wait is {local_wait!r}; it must be a number of seconds.")
    if not 0 < local_wait <= receive_timeout:
        raise ValueError(
            f"local_wait is {local_wait!r}; it must be positive and at most "
            f"receive_timeout ({receive_timeout!r})."
        )
    return float(local_wait)


def ipc_local_layer(prefix: str, options: Mapping[str, Any], needed_by: str, extra: str) -> Any:
    """Return an ``asgi_ipc`` layer for a split layer's normal channels.

    ``needed_by`` names the split layer and ``extra`` the pip requirement that
    brings asgi-ipc along, for the error when it is not installed.
    """
    try:
        module = importlib.import_module("asgi_ipc")
    except ImportError as exc:
        raise ImportError(f"{needed_by} needs asgi-ipc: pip install '{extra}'.") from exc
    return module.IPCChannelLayer(prefix=prefix, **options)


def local_layer_options(
    options: Mapping[str, Any] | None, local_wait: float, **defaults: Any
) -> dict[str, Any]:
    """Return settings for the local layer: ``options`` plus ``defaults`` it lacks.

    Defaults that are None are left out; ``receive_timeout`` is always
    ``local_wait``, the slice a mixed blocking receive waits on the local store.
    """
    merged = dict(options or {})
    for key, value in defaults.items():
        if value is not None:
            merged.setdefault(key, value)
    merged["receive_timeout"] = local_wait
    return merged


def _merge_statistics(
    first: Mapping[str, Any], second: Mapping[str, Any]
) -> dict[str, int | float]:
    merged: dict[str, int | float] = {}
    for key in set(first) | set(second):
        if key == "messages_max_age":
            merged[key] = max(first.get(key, 0), second.get(key, 0))
        else:
            merged[key] = first.get(key, 0) + second.get(key, 0)
    return merged


class LocalRemoteChannelLayer(BaseChannelLayer):
    """Route normal channels to ``local`` and ``?``/``!`` channels to ``remote``.

    Both sub-layers need the ``groups``, ``flush`` and ``statistics``
    extensions. ``local`` should have been built with ``receive_timeout`` equal
    to ``local_wait``; ``receive_timeout`` bounds a blocking receive here.
    Subclasses build the two layers and pass them in (see
    ``asgi_redis.RedisLocalChannelLayer``).
    """

    extensions = ["groups", "flush", "statistics", "async"]

    def __init__(
        self,
        local: Any,
        remote: Any,
        *,
        receive_timeout: float = 5.0,
        local_wait: float = 0.05,
        expiry: float = 60,
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: Mapping[CapacityPattern, int] | None = None,
        time_fn: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            time_fn=time_fn,
        )
        self.local_wait = check_local_wait(local_wait, receive_timeout)
        self.receive_timeout = receive_timeout
        self.local: Any = local
        self.remote: Any = remote

    def _store(self, channel: str) -> Any:
        return self.local if is_local_name(channel) else self.remote

    def _translate(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except (self.ChannelFull, self.MessageTooLarge):
            raise
        except (self.local.ChannelFull, self.remote.ChannelFull) as exc:
            raise self.ChannelFull(str(exc)) from exc
        except (self.local.MessageTooLarge, self.remote.MessageTooLarge) as exc:
            raise self.MessageTooLarge(str(exc)) from exc

    # Core API -----------------------------------------------------------------

    def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send ``message`` through the store that holds ``channel``."""
        self.require_channel_name(channel)
        target = self._store(channel)
        self._translate(lambda: target.send(channel, message))

    def receive(self, channels: Iterable[str], block: bool = False) -> _Result:
        """Return ``(channel, message)`` from either store, or ``(None, None)``."""
        names = list(dict.fromkeys(self.require_receive_names(channels)))
        local_names = [name for name in names if is_local_name(name)]
        remote_names = [name for name in names if not is_local_name(name)]
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
            # One local_wait slice on the local store; it wakes at once for a local send.
            found = self.local.receive(local_names, True)
            if found[0] is not None:
                return found

    async def receive_async(self, channels: Iterable[str]) -> _Result:
        """Await a message on any of ``channels`` for up to ``receive_timeout`` seconds."""
        names = self.require_receive_names(channels)
        if (
            names
            and not any(is_local_name(name) for name in names)
            and "async" in self.remote.extensions
        ):
            return await self.remote.receive_async(names)  # type: ignore[no-any-return]
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        call = functools.partial(context.run, self.receive, names, True)
        return await loop.run_in_executor(self.receive_executor(), call)

    def receive_executor(self) -> concurrent.futures.Executor | None:
        """Return the pool for blocking receives from ``receive_async`` (None: loop default)."""
        return None

    def new_channel(self, pattern: str) -> str:
        """Return a new ``?`` channel name starting with ``pattern`` (from ``remote``)."""
        return self.remote.new_channel(pattern)  # type: ignore[no-any-return]

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

    # Flush, statistics, close -------------------------------------------------

    def flush(self) -> None:
        """Empty both stores."""
        self.local.flush()
        self.remote.flush()

    def channel_statistics(self, channel: str) -> dict[str, int | float]:
        """Return statistics for ``channel`` from the store that holds it."""
        self.require_channel_name(channel)
        stats: dict[str, int | float] = self._store(channel).channel_statistics(channel)
        return stats

    def global_statistics(self) -> dict[str, int | float]:
        """Return statistics across both stores."""
        return _merge_statistics(self.local.global_statistics(), self.remote.global_statistics())

    def close(self) -> None:
        """Close the remote layer, then the local one (for those that can close)."""
        for layer in (self.remote, self.local):
            close: Callable[[], None] | None = getattr(layer, "close", None)
            if close is not None:
                close()

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} local={self.local!r} remote={self.remote!r}>"
