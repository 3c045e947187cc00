"""Test helpers: a local-variant layer that leaves no shared memory behind.

``python -m asgi_conformance asgi_redis.testing:TemporaryRedisLocalChannelLayer``
runs the conformance suite against :class:`~asgi_redis.RedisLocalChannelLayer`
without leaving segments in ``/dev/shm``.
"""

from __future__ import annotations

from typing import Any

from .local import RedisLocalChannelLayer

__all__ = ["TemporaryRedisLocalChannelLayer"]


class TemporaryRedisLocalChannelLayer(RedisLocalChannelLayer):
    """A :class:`RedisLocalChannelLayer` whose IPC part is removed at interpreter exit.

    Every instance in a process shares one random IPC prefix (as the processes of a
    deployment share theirs), created by ``asgi_ipc.testing``.
    """

    def make_local_layer(self, prefix: str, options: dict[str, Any]) -> Any:
        """Return a temporary IPC layer, ignoring ``prefix`` for a per-process random one."""
        try:
            from asgi_ipc.testing import TemporaryIPCChannelLayer
        except ImportError as exc:
            raise ImportError(
                "TemporaryRedisLocalChannelLayer needs asgi-ipc: pip install 'asgi-redis[local]'."
            ) from exc
        return TemporaryIPCChannelLayer(**options)
