"""RabbitmqLocalChannelLayer: normal channels in local shared memory, the rest on RabbitMQ.

How this works
--------------
Interface servers and workers on one machine hand each other normal-channel
messages (``http.request``, ``websocket.receive``) through an
:class:`asgi_ipc.IPCChannelLayer`, which costs no network round trip. Reply
channels (``?`` and ``!``) and their group memberships go through a
:class:`~asgi_rabbitmq.RabbitmqChannelLayer`, so replies and broadcasts still
reach interface servers on other machines.

Routing, group merging and the mixed local/RabbitMQ receive live in
:class:`asgiref.split_layer.LocalRemoteChannelLayer`. What is specific here:
``receive_async`` runs its blocking receives in the RabbitMQ layer's own
bounded thread pool (each thread keeps one RabbitMQ connection), not in the
event loop's default pool.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from asgiref.base_layer import CapacityPattern
from asgiref.split_layer import (
    LocalRemoteChannelLayer,
    check_local_wait,
    ipc_local_layer,
    local_layer_options,
)

from .core import DEFAULT_URL, RabbitmqChannelLayer

__all__ = ["RabbitmqLocalChannelLayer"]


class RabbitmqLocalChannelLayer(LocalRemoteChannelLayer):
    """Normal channels over local ``asgi_ipc``; ``?``/``!`` channels and groups over RabbitMQ.

    Needs the optional dependency: ``pip install 'asgi-rabbitmq[local]'``.
    """

    remote: RabbitmqChannelLayer

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
        local_wait = check_local_wait(local_wait, receive_timeout)
        remote = RabbitmqChannelLayer(
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
        options = local_layer_options(
            ipc_options,
            local_wait,
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
        )
        super().__init__(
            self.make_local_layer(ipc_prefix or prefix, options),
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
        return ipc_local_layer(prefix, options, "RabbitmqLocalChannelLayer", "asgi-rabbitmq[local]")

    def receive_executor(self) -> concurrent.futures.Executor:
        """Return the RabbitMQ layer's bounded pool (one connection per thread)."""
        return self.remote.async_executor()

    def __repr__(self) -> str:
        return f"<asgi_rabbitmq.RabbitmqLocalChannelLayer remote={self.remote!r}>"
