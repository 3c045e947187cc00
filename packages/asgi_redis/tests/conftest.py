"""Fixtures: real Redis servers from the environment, layers with unique prefixes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from asgi_redis import RedisChannelLayer
from asgi_redis.testing import RedisServer, free_port

REDIS_URL = os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")
REDIS_URL_2 = os.environ.get("ASGI_REDIS_URL_2", "redis://127.0.0.1:16380/0")
SENTINEL = os.environ.get("ASGI_REDIS_SENTINEL", "127.0.0.1:16390")
SENTINEL_SERVICE = os.environ.get("ASGI_REDIS_SENTINEL_SERVICE", "channels-test")
#: Ports this package's tests may use for their own redis-server processes.
OWN_PORTS = range(16400, 16500)


def _require(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        message = f"Redis at {url} is unreachable ({exc}); start it with scripts/services.sh start"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    finally:
        client.close()


@pytest.fixture
def prefix() -> str:
    """Return a prefix no other test run uses."""
    return f"test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def make_layer(prefix: str) -> Iterator[Callable[..., RedisChannelLayer]]:
    """Build layers on the shared servers; flush and close them afterwards."""
    made: list[RedisChannelLayer] = []

    def make(shards: int = 1, **kwargs: Any) -> RedisChannelLayer:
        hosts = [REDIS_URL, REDIS_URL_2][:shards]
        for url in hosts:
            _require(url)
        kwargs.setdefault("prefix", prefix)
        kwargs.setdefault("stats_prefix", "test-meta:")
        layer = RedisChannelLayer(hosts=hosts, **kwargs)
        made.append(layer)
        return layer

    yield make
    for layer in made:
        try:
            layer.flush()
        finally:
            layer.close()


def keys_of(url: str, prefix: str) -> list[bytes]:
    """Return every key starting with ``prefix`` on the server at ``url``."""
    client = redis.Redis.from_url(url)
    try:
        return sorted(client.scan_iter(match=prefix + "*", count=1000))
    finally:
        client.close()


class FakeClock:
    """A clock that moves only when told to (seconds, like time.time)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """Start a private redis-server on a port in 16400-16499; stop it afterwards."""
    server = RedisServer(tmp_path, free_port(OWN_PORTS))
    server.start()
    yield server
    server.stop()
