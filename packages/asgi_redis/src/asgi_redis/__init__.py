"""Redis channel layers for the ASGI 1 / Channels 1.x stack.

``asgi_redis.RedisChannelLayer`` talks to one Redis server or shards over
several; ``asgi_redis.RedisSentinelChannelLayer`` finds its masters through
Redis Sentinel; ``asgi_redis.RedisLocalChannelLayer`` keeps normal channels in
local shared memory (needs ``asgi-redis[local]``).
"""

from __future__ import annotations

from ._codec import MessageDecodeError
from ._errors import RedisUnavailableError
from .core import RedisChannelLayer
from .local import RedisLocalChannelLayer
from .sentinel import RedisSentinelChannelLayer

__all__ = [
    "MessageDecodeError",
    "RedisChannelLayer",
    "RedisLocalChannelLayer",
    "RedisSentinelChannelLayer",
    "RedisUnavailableError",
]
