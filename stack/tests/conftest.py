"""Shared fixtures of the whole-stack tests: a Redis-backed site, server checks."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from stackharness import REDIS_URL, Site, redis_reachable  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "netns: needs root to create Linux network namespaces")


def require_redis(url: str = REDIS_URL) -> None:
    """Skip (or fail under CI=true) when the shared Redis is unreachable."""
    if not redis_reachable(url):
        message = f"Redis at {url} is unreachable (start it with `make services`)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    """Return an empty site (Redis unless parametrized with a layer name); the test starts
    the processes it needs."""
    layer = getattr(request, "param", "redis")
    if layer == "redis":
        require_redis()
    built = Site(layer=layer)
    try:
        yield built
    finally:
        built.close()
