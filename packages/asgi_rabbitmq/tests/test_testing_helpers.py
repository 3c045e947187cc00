"""The test helpers give each test an isolated namespace and clean it up."""

from __future__ import annotations

import asyncio
import unittest

import pika
import pika.exceptions
import pytest
from asgi_rabbitmq import RabbitmqChannelLayer
from asgi_rabbitmq.testing import IsolatedLayerMixin, isolated_layer

pytestmark = pytest.mark.services


def _queue_exists(url: str, name: str) -> bool:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().queue_declare(name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as exc:
        assert exc.reply_code == 404
        return False
    finally:
        if connection.is_open:
            connection.close()
    return True


def test_isolated_layer_deletes_everything_it_created(rabbitmq_url: str) -> None:
    with isolated_layer(rabbitmq_url) as layer:
        layer.send("kept", {"n": 1})
        layer.group_add("room", "member!x")
        created = [
            layer.names.queue("kept"),
            layer.names.queue("member!"),
            layer.names.member_queue("room", "member!x"),
            layer.names.roster_queue("room"),
            layer.names.registry_queue,
            layer.names.expired_queue,
        ]
        assert all(_queue_exists(rabbitmq_url, name) for name in created)
    assert not any(_queue_exists(rabbitmq_url, name) for name in created)


def test_two_isolated_layers_do_not_see_each_other(rabbitmq_url: str) -> None:
    with isolated_layer(rabbitmq_url) as first, isolated_layer(rabbitmq_url) as second:
        first.send("same.name", {"from": "first"})
        assert second.receive(["same.name"]) == (None, None)
        assert first.receive(["same.name"]) == ("same.name", {"from": "first"})


def test_isolated_layer_refuses_a_prefix() -> None:
    with pytest.raises(TypeError, match="prefix"), isolated_layer(prefix="mine"):
        pass


def test_unittest_mixin_gives_each_test_its_own_layer(rabbitmq_url: str) -> None:
    seen: list[RabbitmqChannelLayer] = []

    class Example(IsolatedLayerMixin, unittest.TestCase):
        rabbitmq_url = None  # read from $ASGI_RABBITMQ_URL
        layer_config = {"capacity": 3}

        def test_one(self) -> None:
            seen.append(self.channel_layer)
            self.channel_layer.send("a", {})
            self.assertEqual(self.channel_layer.capacity, 3)

        def test_two(self) -> None:
            seen.append(self.channel_layer)
            self.assertEqual(self.channel_layer.receive(["a"]), (None, None))

    Example.rabbitmq_url = rabbitmq_url
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(Example).run(result)
    assert result.wasSuccessful(), result.failures + result.errors
    assert len(seen) == 2 and seen[0].names.prefix != seen[1].names.prefix


def test_receive_async_returns_a_message_and_times_out_empty(rabbitmq_url: str) -> None:
    with isolated_layer(rabbitmq_url, receive_timeout=0.5) as layer:

        async def scenario() -> tuple[object, object]:
            layer.send("async.ch", {"n": 1})
            first = await layer.receive_async(["async.ch"])
            empty = await layer.receive_async(["async.ch"])
            return first, empty

        assert asyncio.run(scenario()) == (("async.ch", {"n": 1}), (None, None))
