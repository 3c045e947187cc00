"""RabbitmqLocalChannelLayer: normal channels in shared memory, the rest on RabbitMQ."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from asgi_rabbitmq import RabbitmqLocalChannelLayer
from asgi_rabbitmq.testing import (
    TemporaryRabbitmqLocalChannelLayer,
    delete_namespace,
    random_prefix,
)

pytest.importorskip("asgi_ipc")
pytestmark = pytest.mark.services


@pytest.fixture
def local_layer(rabbitmq_url: str) -> Iterator[RabbitmqLocalChannelLayer]:
    layer = TemporaryRabbitmqLocalChannelLayer(
        rabbitmq_url, prefix=random_prefix(), expiry=2, capacity=5, receive_timeout=3
    )
    try:
        yield layer
    finally:
        layer.local.flush()
        delete_namespace(layer.remote)
        layer.close()


def test_normal_channels_never_touch_rabbitmq(local_layer: RabbitmqLocalChannelLayer) -> None:
    local_layer.send("http.request", {"path": "/"})
    assert local_layer.remote.channel_statistics("http.request")["messages_pending"] == 0
    assert local_layer.local.channel_statistics("http.request")["messages_pending"] == 1
    assert local_layer.receive(["http.request"]) == ("http.request", {"path": "/"})


def test_reply_channels_go_over_rabbitmq(local_layer: RabbitmqLocalChannelLayer) -> None:
    local_layer.send("reply!a", {"n": 1})
    assert local_layer.remote.channel_statistics("reply!a")["messages_pending"] == 1
    assert local_layer.receive(["http.request", "reply!"]) == ("reply!a", {"n": 1})


def test_capacity_of_each_store_raises_the_layers_channel_full(
    local_layer: RabbitmqLocalChannelLayer,
) -> None:
    for name in ("normal", "reply!x"):
        for _ in range(5):
            local_layer.send(name, {})
        with pytest.raises(local_layer.ChannelFull):
            local_layer.send(name, {})


def test_mixed_blocking_receive_wakes_for_either_store(
    local_layer: RabbitmqLocalChannelLayer,
) -> None:
    for channel in ("work", "reply!z"):
        timer = threading.Timer(0.3, local_layer.send, (channel, {"to": channel}))
        timer.start()
        try:
            assert local_layer.receive(["work", "reply!"], block=True) == (
                channel,
                {"to": channel},
            )
        finally:
            timer.cancel()
    started = time.monotonic()
    assert local_layer.receive(["work", "reply!"], block=True) == (None, None)
    assert time.monotonic() - started < 60


def test_group_spans_local_and_remote_members(local_layer: RabbitmqLocalChannelLayer) -> None:
    local_layer.group_add("room", "worker.inbox")
    local_layer.group_add("room", "daphne.response.abc!c1")
    assert sorted(local_layer.group_channels("room")) == [
        "daphne.response.abc!c1",
        "worker.inbox",
    ]
    local_layer.send_group("room", {"all": True})
    assert local_layer.receive(["worker.inbox"]) == ("worker.inbox", {"all": True})
    deadline = time.monotonic() + 10
    got = (None, None)
    while got[0] is None and time.monotonic() < deadline:
        got = local_layer.receive(["daphne.response.abc!"], block=True)
    assert got == ("daphne.response.abc!c1", {"all": True})
    local_layer.group_discard("room", "worker.inbox")
    assert local_layer.group_channels("room") == ["daphne.response.abc!c1"]


def test_receive_async_on_the_local_variant(local_layer: RabbitmqLocalChannelLayer) -> None:
    async def scenario() -> tuple[object, object]:
        local_layer.send("async.work", {"n": 1})
        return await local_layer.receive_async(["async.work", "async.reply!"])

    assert asyncio.run(scenario()) == ("async.work", {"n": 1})
