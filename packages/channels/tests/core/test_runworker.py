"""``manage.py runworker``: option handling in-process, and real worker processes on Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from channels.asgi import channel_layers
from django.core.management import CommandError, call_command
from django.test import override_settings

REDIS_URL = os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")


def test_runworker_refuses_the_in_memory_layer() -> None:
    with pytest.raises(CommandError, match="in-memory layer, which cannot span processes"):
        call_command("runworker")


def test_runworker_names_an_unknown_layer() -> None:
    with pytest.raises(CommandError, match="No channel layer with the alias 'nope'"):
        call_command("runworker", layer="nope")


def test_runworker_refuses_zero_threads() -> None:
    with pytest.raises(CommandError, match="--threads is 0"):
        call_command("runworker", threads=0)


@pytest.fixture
def redis_layer() -> Iterator[tuple[Any, str]]:
    """Return the Redis layer wrapper and a fresh key prefix; skip if Redis is down (not in CI)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=5).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    prefix = f"chtest{uuid.uuid4().hex[:10]}:"
    config = {
        "default": {
            "BACKEND": "asgi_redis.RedisChannelLayer",
            "ROUTING": "testproject.routing.channel_routing",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": prefix, "receive_timeout": 1.0},
        }
    }
    with override_settings(CHANNEL_LAYERS=config):
        layer = channel_layers["default"]
        yield layer, prefix
        layer.flush()


def start_worker(prefix: str, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, CHANNELS_TEST_PREFIX=prefix, ASGI_REDIS_URL=REDIS_URL)
    env["DJANGO_SETTINGS_MODULE"] = "testproject.settings_redis"
    return subprocess.Popen(
        [sys.executable, "-m", "django", "runworker", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(layer: Any, channel: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        name, content = layer.receive([channel], block=True)
        if name is not None:
            return dict(content)
    raise AssertionError(f"nothing arrived on {channel} within {timeout}s")


def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    return output


@pytest.mark.services
def test_runworker_process_consumes_messages_and_logs_them_at_v2(
    redis_layer: tuple[Any, str],
) -> None:
    layer, prefix = redis_layer
    process = start_worker(prefix, "-v", "2", "--threads", "2", "--only-channels", "worker.*")
    try:
        for n in range(3):
            layer.send("worker.ping", {"reply_to": "test.pongs", "n": n})
        got = sorted(wait_for(layer, "test.pongs")["pong"] for _ in range(3))
        assert got == [0, 1, 2]
    finally:
        output = stop(process)
    assert process.returncode == 0, output
    assert "Using multi-threaded worker, 2 thread(s)" in output
    assert "Listening on channels worker.ping, worker.slow" in output
    assert "Dispatching message on worker.ping to testproject.routing.ping" in output


@pytest.mark.services
def test_sigterm_finishes_the_message_in_hand_and_takes_no_more(
    redis_layer: tuple[Any, str],
) -> None:
    layer, prefix = redis_layer
    process = start_worker(prefix, "--only-channels", "worker.slow")
    try:
        layer.send("worker.slow", {"reply_to": "test.slow", "n": 1, "seconds": 4})
        layer.send("worker.slow", {"reply_to": "test.slow", "n": 2, "seconds": 0})
        assert wait_for(layer, "test.slow") == {"started": 1}
        process.send_signal(signal.SIGTERM)
        assert wait_for(layer, "test.slow") == {"done": 1}
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "finishing the current message" in output
    assert layer.receive(["worker.slow"]) == (
        "worker.slow",
        {"reply_to": "test.slow", "n": 2, "seconds": 0},
    )


@override_settings(DEBUG=True)
def test_runworker_serves_static_files_under_debug(make_layer: Any) -> None:
    from channels.management.commands.runworker import Command
    from channels.message import Message
    from channels.staticfiles import StaticFilesConsumer

    layer = make_layer()
    Command()._install_static_consumer(layer)
    message = Message({"path": "/static/x.css"}, "http.request", layer)
    consumer, _ = layer.router.match(message)
    assert isinstance(consumer, StaticFilesConsumer)


def test_runworker_leaves_http_to_the_views_without_debug(make_layer: Any) -> None:
    from channels.management.commands.runworker import Command
    from channels.message import Message

    layer = make_layer()
    Command()._install_static_consumer(layer)
    consumer, _ = layer.router.match(Message({"path": "/"}, "http.request", layer))
    assert repr(consumer) == "channels.handler.ViewConsumer"
