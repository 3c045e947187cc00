"""Draining this process's x! queues in batches (real broker, plus LocalBuffer alone)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from asgi_rabbitmq import RabbitmqChannelLayer
from asgi_rabbitmq._prefetch import PREFETCH, LocalBuffer
from asgi_rabbitmq.testing import isolated_layer


@pytest.fixture
def roomy(rabbitmq_url: str) -> Iterator[RabbitmqChannelLayer]:
    """A layer whose queues hold a few hundred messages for a minute."""
    with isolated_layer(rabbitmq_url, expiry=60, capacity=500) as made:
        yield made


def test_a_backlog_on_an_own_queue_is_read_in_order_a_batch_at_a_time(
    roomy: RabbitmqChannelLayer,
) -> None:
    prefix = "test.reply!"
    channels = [f"{prefix}c{index % 7}" for index in range(200)]
    for index, channel in enumerate(channels):
        roomy.send(channel, {"n": index})
    first = roomy.receive([prefix], block=True)
    assert first == (channels[0], {"n": 0})
    assert roomy._buffered.count(prefix) == PREFETCH  # taken in one drain
    received = [first]
    while len(received) < 200:
        channel, message = roomy.receive([prefix], block=True)
        assert channel is not None, f"only {len(received)} of 200 arrived"
        received.append((channel, message))
    assert [message["n"] for _channel, message in received] == list(range(200))
    assert [channel for channel, _message in received] == channels
    assert roomy.receive([prefix]) == (None, None)


def test_normal_channels_are_never_drained_ahead(roomy: RabbitmqChannelLayer) -> None:
    for index in range(10):
        roomy.send("test.shared", {"n": index})
    assert roomy.receive(["test.shared"]) == ("test.shared", {"n": 0})
    assert roomy._buffered.count("test.shared") == 0
    assert roomy.channel_statistics("test.shared")["messages_pending"] == 9


def test_flush_forgets_drained_messages(roomy: RabbitmqChannelLayer) -> None:
    prefix = "test.flush!"
    for index in range(5):
        roomy.send(prefix + "x", {"n": index})
    assert roomy.receive([prefix])[1] == {"n": 0}
    assert roomy._buffered.count(prefix) == 4
    roomy.flush()
    assert roomy.receive([prefix]) == (None, None)


def test_buffered_messages_past_their_expiry_are_dropped() -> None:
    buffer = LocalBuffer(expiry_ms=1000)
    now_ms = int(time.time() * 1000)
    buffer.add("a!", [("a!x", b"old", now_ms - 5000), ("a!x", b"new", now_ms), ("a!x", b"?", 0)])
    assert buffer.take(["b!", "a!"]) == ("a!", ("a!x", b"new", now_ms))
    assert buffer.take(["a!"]) == ("a!", ("a!x", b"?", 0))  # no timestamp: kept
    assert buffer.take(["a!"]) is None and buffer.count("a!") == 0
