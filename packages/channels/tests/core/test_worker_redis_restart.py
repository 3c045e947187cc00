"""A worker survives a restart of its Redis server (our own server process, not the shared one)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.asgi import ChannelLayerWrapper
from channels.worker import Worker
from testproject.routing import channel_routing


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Any]:
    """A throwaway redis-server (asgi_redis.testing.RedisServer), stopped afterwards."""
    testing = pytest.importorskip("asgi_redis.testing")
    server = testing.RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def wait_for(layer: Any, channel: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            name, content = layer.receive([channel], block=True)
        except Exception:  # the server may still be coming back
            time.sleep(0.1)
            continue
        if name is not None:
            return dict(content)
    raise AssertionError(f"nothing arrived on {channel} within {timeout}s")


def send_retrying(layer: Any, channel: str, message: dict[str, Any], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            layer.send(channel, message)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.slow
def test_worker_keeps_working_across_a_redis_restart(
    own_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from asgi_redis import RedisChannelLayer

    layer = ChannelLayerWrapper(
        RedisChannelLayer(
            hosts=[own_redis.url],
            prefix=f"restart{uuid.uuid4().hex[:8]}:",
            receive_timeout=0.5,
        ),
        "default",
        channel_routing,
    )
    worker = Worker(layer, signal_handlers=False, only_channels=["worker.ping"], max_backoff=0.5)
    runner = threading.Thread(target=worker.run, daemon=True)
    with caplog.at_level(logging.WARNING, logger="channels.worker"):
        runner.start()
        try:
            layer.send("worker.ping", {"reply_to": "test.pong", "n": 1})
            assert wait_for(layer, "test.pong") == {"pong": 1}
            own_redis.stop()
            deadline = time.monotonic() + 60
            while "failed to receive" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)
            own_redis.start()
            send_retrying(layer, "worker.ping", {"reply_to": "test.pong", "n": 2})
            assert wait_for(layer, "test.pong") == {"pong": 2}
            assert runner.is_alive()
        finally:
            worker.termed = True
            runner.join(timeout=60)
            # Close the sockets now: unclosed ones would warn inside a later test.
            layer.channel_layer.close()
    assert not runner.is_alive()
    assert "failed to receive" in caplog.text
