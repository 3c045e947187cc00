"""The package exports exactly its public names."""

from __future__ import annotations

import asgi_redis


def test_all_lists_exactly_the_public_names() -> None:
    assert sorted(asgi_redis.__all__) == [
        "MessageDecodeError",
        "RedisChannelLayer",
        "RedisLocalChannelLayer",
        "RedisSentinelChannelLayer",
        "RedisUnavailableError",
    ]
    for name in asgi_redis.__all__:
        assert getattr(asgi_redis, name) is not None


def test_unavailable_error_is_a_connection_error() -> None:
    assert issubclass(asgi_redis.RedisUnavailableError, ConnectionError)
    assert issubclass(asgi_redis.MessageDecodeError, ValueError)
