"""Shared fixtures of the whole-stack tests: a site on one layer, server checks."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from stackharness import (  # noqa: E402
    RABBITMQ_URL,
    REDIS_URL,
    Site,
    rabbitmq_reachable,
    redis_reachable,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "netns: needs root to create Linux network namespaces")


def _missing_server(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_redis(url: str = REDIS_URL) -> None:
    """Skip (or fail under CI=true) when the shared Redis is unreachable."""
    if not redis_reachable(url):
        _missing_server(f"Redis at {url} is unreachable (start it with `make services`)")


def require_rabbitmq(url: str = RABBITMQ_URL) -> None:
    """Skip (or fail under CI=true) when the shared RabbitMQ broker is unreachable."""
    if not rabbitmq_reachable(url):
        _missing_server(f"RabbitMQ at {url} is unreachable (start it with `make services`)")


@pytest.fixture
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    """Return an empty site (Redis unless parametrized with a layer name); the test starts
    the processes it needs."""
    layer = getattr(request, "param", "redis")
    if layer == "redis":
        require_redis()
    elif layer == "rabbitmq":
        require_rabbitmq()
    built = Site(layer=layer)
    try:
        yield built
    finally:
        built.close()
