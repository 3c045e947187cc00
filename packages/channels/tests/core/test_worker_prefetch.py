"""A worker on Redis takes a few messages of a backlog at once; replies stay prompt and ordered."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels import Channel
from channels.asgi import ChannelLayerWrapper, channel_layers
from channels.routing import route
from channels.worker import Worker
from django.core.management import CommandError, call_command

REDIS_URL = os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")

Consumer = Callable[..., None]


@pytest.fixture
def redis_layer() -> Iterator[Callable[[Consumer], ChannelLayerWrapper]]:
    """Return a factory for a Redis layer routing ``work`` to a consumer, as the default alias."""
    asgi_redis = pytest.importorskip("asgi_redis")
    made: list[Any] = []

    def make(consumer: Consumer) -> ChannelLayerWrapper:
        raw = asgi_redis.RedisChannelLayer(
            hosts=[REDIS_URL], prefix=f"prefetch{uuid.uuid4().hex[:8]}:", receive_timeout=0.2
        )
        try:
            raw.send("probe", {})
        except Exception as exc:
            message = f"Redis at {REDIS_URL} is unreachable ({exc})"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        raw.flush()
        made.append(raw)
        wrapper = ChannelLayerWrapper(raw, "default", [route("work", consumer)])
        channel_layers.set("default", wrapper)
        return wrapper

    yield make
    channel_layers.reset()
    for raw in made:
        raw.flush()
        raw.close()


def _replying(message: Any) -> None:
    Channel("out").send({"n": message["n"]})


def _backlog(layer: ChannelLayerWrapper, count: int) -> None:
    for n in range(count):
        layer.send("work", {"n": n})


def _read(layer: ChannelLayerWrapper, count: int, timeout: float = 10.0) -> list[int]:
    """Read ``count`` replies from ``out`` (on a connection of this thread's own)."""
    got: list[int] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        channel, content = layer.receive(["out"], block=True)
        if channel is not None:
            got.append(content["n"])
    return got


def _count_receiving_exchanges(layer: ChannelLayerWrapper) -> list[int]:
    """Record, for every round trip that brought messages, how many it brought.

    The scripts are loaded first: on a server without them the first receive goes
    through the reload path, which is not one of the round trips counted here.
    """
    raw = layer.channel_layer
    for script in raw._scripts.values():
        raw._execute(0, ("SCRIPT", "LOAD", script.source))
    brought: list[int] = []
    original = raw._execute_many

    def counting(shard: int, commands: Any) -> list[Any]:
        replies = original(shard, commands)
        received = replies[-1]
        if isinstance(received, list) and received:
            brought.append(len(received))
        elif isinstance(received, bytes):
            brought.append(1)
        return replies

    raw._execute_many = counting
    return brought


def _run(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return thread


def _stop(worker: Worker, thread: threading.Thread) -> None:
    worker.termed = True
    thread.join(timeout=10)
    assert not thread.is_alive()


@pytest.mark.parametrize(
    ("prefetch", "batches"),
    # With prefetch=1 the first receive has no replies to carry: a plain receive, not counted.
    [(4, [4, 4, 4, 2, 1, 1]), (2, [2] * 7 + [1, 1]), (1, [1] * 15)],
)
def test_a_backlog_costs_fewer_round_trips_and_every_reply_arrives_in_order(
    redis_layer: Callable[[Consumer], ChannelLayerWrapper], prefetch: int, batches: list[int]
) -> None:
    layer = redis_layer(_replying)
    _backlog(layer, 16)
    brought = _count_receiving_exchanges(layer)
    worker = Worker(layer, signal_handlers=False, prefetch=prefetch)
    thread = _run(worker)
    try:
        assert _read(layer, 16) == list(range(16))
    finally:
        _stop(worker, thread)
    # Never more than half of what waits, so other workers always find work.
    assert brought == batches


def test_a_slow_consumer_does_not_hold_back_the_replies_kept_before_it(
    redis_layer: Callable[[Consumer], ChannelLayerWrapper],
) -> None:
    release = threading.Event()

    def consumer(message: Any) -> None:
        Channel("out").send({"n": message["n"]})
        if message["n"] == 1:
            release.wait(10)

    layer = redis_layer(consumer)
    _backlog(layer, 4)  # the first receive takes two: 0 and 1
    worker = Worker(layer, signal_handlers=False, prefetch=4)
    thread = _run(worker)
    try:
        started = time.monotonic()
        assert _read(layer, 1, timeout=3) == [0]  # sent by the watcher while 1 is running
        assert time.monotonic() - started < 3
        assert not release.is_set()
        release.set()
        assert _read(layer, 3) == [1, 2, 3]
    finally:
        release.set()
        _stop(worker, thread)


def test_an_immediate_send_goes_after_the_sends_kept_before_it(
    redis_layer: Callable[[Consumer], ChannelLayerWrapper],
) -> None:
    def consumer(message: Any) -> None:
        Channel("out").send({"n": message["n"]}, immediately=message["n"] % 2 == 1)

    layer = redis_layer(consumer)
    _backlog(layer, 8)
    worker = Worker(layer, signal_handlers=False, prefetch=4)
    thread = _run(worker)
    try:
        assert _read(layer, 8) == list(range(8))
    finally:
        _stop(worker, thread)


def test_a_stopping_worker_handles_what_it_took_and_leaves_the_rest_queued(
    redis_layer: Callable[[Consumer], ChannelLayerWrapper],
) -> None:
    handled: list[int] = []
    holder: list[Worker] = []

    def consumer(message: Any) -> None:
        handled.append(message["n"])
        Channel("out").send({"n": message["n"]})
        holder[0].termed = True  # as SIGTERM would, during the first message

    layer = redis_layer(consumer)
    _backlog(layer, 8)
    worker = Worker(layer, signal_handlers=False, prefetch=4)
    holder.append(worker)
    thread = _run(worker)
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert handled == [0, 1, 2, 3]
    assert _read(layer, 4) == [0, 1, 2, 3]
    left = [layer.receive(["work"])[1]["n"] for _ in range(4)]
    assert left == [4, 5, 6, 7]


def test_prefetch_must_be_a_positive_int(
    redis_layer: Callable[[Consumer], ChannelLayerWrapper],
) -> None:
    layer = redis_layer(_replying)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="prefetch is"):
            Worker(layer, signal_handlers=False, prefetch=bad)  # type: ignore[arg-type]
    with pytest.raises(CommandError, match="--prefetch is 0"):
        call_command("runworker", prefetch=0)
