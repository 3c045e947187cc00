"""Fixtures: an isolated layer on the shared broker ($ASGI_RABBITMQ_URL)."""

from __future__ import annotations

import os
import socket
import urllib.parse
from collections.abc import Iterator

import pytest
from asgi_rabbitmq import RabbitmqChannelLayer
from asgi_rabbitmq.testing import isolated_layer

URL = os.environ.get("ASGI_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5673/%2F")


def _reachable(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """Return the broker URL; fail under CI (skip otherwise) when it is unreachable."""
    if not _reachable(URL):
        message = f"RabbitMQ is not reachable at {URL}; run scripts/services.sh start"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return URL


@pytest.fixture
def layer(rabbitmq_url: str) -> Iterator[RabbitmqChannelLayer]:
    """Return a layer on a random prefix with short expiries, deleted afterwards."""
    with isolated_layer(rabbitmq_url, expiry=1, group_expiry=3, capacity=20) as made:
        yield made
