"""RabbitmqLocalChannelLayer: normal channels in local shared memory, the rest on RabbitMQ.

How this works
--------------
Interface servers and workers on one machine hand each other normal-channel
messages (``http.request``, ``websocket.receive``) through an
:class:`asgi_ipc.IPCChannelLayer`, which costs no network round trip. Reply
channels (``?`` and ``!``) and their group memberships go through a
:class:`~asgi_rabbitmq.RabbitmqChannelLayer`, so replies and broadcasts still
reach interface servers on other machines.

A normal channel lives on this machine only, so when one joins a group that
membership is kept in the local store too: ``send_group`` sends to both
stores, ``group_channels`` merges both, and each store applies its own expiry,
capacity and eviction rules to its members.

A receive on normal names only waits on the local store; one on ``?``/``!``
names only waits on RabbitMQ. A blocking receive that mixes both waits on the
local store in short slices (``local_wait``) and checks RabbitMQ between them.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from asgiref.base_layer import BaseChannelLayer, CapacityPattern

from .core import DEFAULT_URL, RabbitmqChannelLayer

__all__ = ["RabbitmqLocalChannelLayer"]

_Result = tuple[str, dict[str, Any]] | tuple[None, None]


def _is_local(name: str) -> bool:
    return "!" not in name and "?" not in name


class RabbitmqLocalChannelLayer(BaseChannelLayer):
    """Normal channels over local ``asgi_ipc``; ``?``/``!`` channels and groups over RabbitMQ.

    Needs the optional dependency: ``pip install 'asgi-rabbitmq[local]'``.
    """

    extensions = ["groups", "flush", "statistics", "async"]

    def __init__(
        self,
        url: str | Sequence[str] = DEFAULT_URL,
        expiry: float = 60,
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: Mapping[CapacityPattern, int] | None = None,
        symmetric_encryption_keys: Iterable[str | bytes] | None = None,
        prefix: str = "asgi",
        receive_timeout: float = 5.0,
        ipc_prefix: str | None = None,
        ipc_options: Mapping[str, Any] | None = None,
        local_wait: float = 0.1,
        time_fn: Callable[[], float] | None = None,
        **rabbitmq_options: Any,
    ) -> None:
        super().__init__(
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            time_fn=time_fn,
        )
        if isinstance(local_wait, bool) or not isinstance(local_wait, int | float):
            raise TypeError(f"local_wait is {local_wait!r}; it must be a number of seconds.")
        if not 0 < local_wait <= receive_timeout:
            raise ValueError(
                f"local_wait is {local_wait!r}; it must be positive and at most "
                f"receive_timeout ({receive_timeout!r})."
            )
        self.receive_timeout = receive_timeout
        self.local_wait = local_wait
        self.remote = RabbitmqChannelLayer(
            url,
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            symmetric_encryption_keys=symmetric_encryption_keys,
            prefix=prefix,
            receive_timeout=receive_timeout,
            time_fn=time_fn,
            **rabbitmq_options,
        )
        options = dict(ipc_options or {})
        options.setdefault("expiry", expiry)
        options.setdefault("group_expiry", group_expiry)
        options.setdefault("capacity", capacity)
        options.setdefault("channel_capacity", channel_capacity)
        options["receive_timeout"] = local_wait
        self.local = self.make_local_layer(ipc_prefix or prefix, options)

    def make_local_layer(self, prefix: str, options: dict[str, Any]) -> Any:
        """Return the ``asgi_ipc`` layer for normal channels (override to customise)."""
        try:
            module = importlib.import_module("asgi_ipc")
        except ImportError as exc:
            raise ImportError(
                "RabbitmqLocalChannelLayer needs asgi-ipc: pip install 'asgi-rabbitmq[local]'."
            ) from exc
        return module.IPCChannelLayer(prefix=prefix, **options)

    # Core API -----------------------------------------------------------------

    def _translate(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except self.ChannelFull:
            raise
        except (self.local.ChannelFull, self.remote.ChannelFull) as exc:
            raise self.ChannelFull(str(exc)) from exc
        except self.MessageTooLarge:
            raise
        except (self.local.MessageTooLarge, self.remote.MessageTooLarge) as exc:
            raise self.MessageTooLarge(str(exc)) from exc

    def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send ``message``: locally for normal channels, over RabbitMQ otherwise."""
        self.require_channel_name(channel)
        target = self.local if _is_local(channel) else self.remote
        self._translate(lambda: target.send(channel, message))

    def receive(self, channels: Iterable[str], block: bool = False) -> _Result:
        """Return ``(channel, message)`` from the local store or RabbitMQ, or ``(None, None)``."""
        names = list(dict.fromkeys(self.require_receive_names(channels)))
        if not names:
            return None, None
        local_names = [name for name in names if _is_local(name)]
        remote_names = [name for name in names if not _is_local(name)]
        deadline = time.monotonic() + self.receive_timeout
        while True:
            found: _Result = (None, None)
            if local_names:
                found = self.local.receive(local_names, block=False)
            if found[0] is None and remote_names:
                found = self.remote.receive(remote_names, block=bool(block and not local_names))
            if found[0] is not None or not block or not local_names:
                return found
            if time.monotonic() >= deadline:
                return None, None
            # Wait one slice on the local store (it wakes at once for a local send).
            found = self.local.receive(local_names, block=True)
            if found[0] is not None:
                return found

    async def receive_async(self, channels: Iterable[str]) -> _Result:
        """Await a message on any of ``channels`` for up to ``receive_timeout`` seconds."""
        names = self.require_receive_names(channels)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.remote.async_executor(), functools.partial(self.receive, names, True)
        )

    def new_channel(self, pattern: str) -> str:
        """Return a new ``?`` channel name starting with ``pattern``."""
        self.require_new_channel_pattern(pattern)
        return pattern + self.random_suffix()

    # Groups: normal members locally, the others on RabbitMQ ------------------

    def _store(self, channel: str) -> Any:
        return self.local if _is_local(channel) else self.remote

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
        """Empty both the local store and this prefix on RabbitMQ."""
        self.local.flush()
        self.remote.flush()

    @staticmethod
    def _merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, int | float]:
        merged: dict[str, int | float] = {}
        for key in set(first) | set(second):
            if key == "messages_max_age":
                merged[key] = max(first.get(key, 0), second.get(key, 0))
            else:
                merged[key] = first.get(key, 0) + second.get(key, 0)
        return merged

    def channel_statistics(self, channel: str) -> dict[str, int | float]:
        """Return statistics for ``channel`` from the store that holds it."""
        self.require_channel_name(channel)
        stats: dict[str, int | float] = self._store(channel).channel_statistics(channel)
        return stats

    def global_statistics(self) -> dict[str, int | float]:
        """Return statistics across both stores."""
        return self._merge(self.local.global_statistics(), self.remote.global_statistics())

    def close(self) -> None:
        """Close the RabbitMQ connections and detach from the shared memory."""
        self.remote.close()
        close: Callable[[], None] | None = getattr(self.local, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"<asgi_rabbitmq.RabbitmqLocalChannelLayer remote={self.remote!r}>"
