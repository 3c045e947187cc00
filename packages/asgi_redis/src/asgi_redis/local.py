"""RedisLocalChannelLayer: normal channels in local shared memory, the rest on Redis.

How this works
--------------
Interface servers and workers on one machine hand each other normal-channel
messages (``http.request``, ``websocket.receive``) through an
:class:`asgi_ipc.IPCChannelLayer`, which costs no network round trip. Reply
channels (``?`` and ``!``) and group memberships of those go through a
:class:`~asgi_redis.RedisChannelLayer`, so replies and broadcasts still reach
interface servers on other machines, as in asgi_redis 1.x.

Routing, group merging and the mixed local/Redis receive (Redis is checked
between ``local_wait`` slices on the local store) live in
:class:`asgiref.split_layer.LocalRemoteChannelLayer`; this module only builds
the two stores from one set of settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from asgiref.base_layer import CapacityPattern
from asgiref.split_layer import (
    LocalRemoteChannelLayer,
    check_local_wait,
    ipc_local_layer,
    local_layer_options,
)

from .core import RedisChannelLayer

__all__ = ["RedisLocalChannelLayer"]


class RedisLocalChannelLayer(LocalRemoteChannelLayer):
    """Normal channels over local ``asgi_ipc``; ``?``/``!`` channels over Redis.

    Needs the optional dependency: ``pip install 'asgi-redis[local]'``. Takes the
    settings of :class:`~asgi_redis.RedisChannelLayer` plus ``ipc_prefix`` (the
    shared-memory name, default: ``prefix`` without its colon), ``ipc_options``
    (extra :class:`asgi_ipc.IPCChannelLayer` settings) and ``local_wait``.
    """

    remote: RedisChannelLayer

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
        local_wait = check_local_wait(local_wait, receive_timeout)
        remote = RedisChannelLayer(
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
        options = local_layer_options(
            ipc_options,
            local_wait,
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            time_fn=time_fn,
        )
        name = ipc_prefix or "".join(char for char in prefix if char.isalnum() or char in "-_")
        super().__init__(
            self.make_local_layer(name or "asgi", options),
            remote,
            receive_timeout=receive_timeout,
            local_wait=local_wait,
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            time_fn=time_fn,
        )

    def make_local_layer(self, prefix: str, options: dict[str, Any]) -> Any:
        """Return the ``asgi_ipc`` layer for normal channels (override to customise)."""
        return ipc_local_layer(prefix, options, "RedisLocalChannelLayer", "asgi-redis[local]")

    def __repr__(self) -> str:
        return f"<asgi_redis.RedisLocalChannelLayer remote={self.remote!r}>"
