"""The examples of the manual's "Testing Consumers" chapter that need only the core, as written.

One change to the seed text: the "Generic Consumers" example reads
``message.reply_channel``, so its input message carries a ``reply_channel``
(as a real message from Daphne would); without one the example's own code
raises AttributeError on ``None.name``.
"""

from __future__ import annotations

from typing import Any

from channels import Channel, Group
from channels.message import Message
from channels.routing import route
from channels.sessions import enforce_ordering
from channels.test import ChannelTestCase, Client, HttpClient, apply_routes


def my_consumer(message: Message) -> None:
    """Post the square of ``value`` to the "result" channel."""
    Channel("result").send({"value": message["value"] ** 2})


class MyConsumer:
    """A class-based consumer: reply with the square of ``value``."""

    def __init__(self, message: Message, **kwargs: Any) -> None:
        message.reply_channel.send({"value": message["value"] ** 2})


def internal_consumer(message: Message, **kwargs: Any) -> None:
    """Answer {'all is': 'done'} once it saw the value."""
    assert message["value"] == "my_value"
    message.reply_channel.send({"all is": "done"})


@enforce_ordering
def ordered_receive(message: Message, **kwargs: Any) -> None:
    """Log each frame's text on "ordered-log", in the order it was consumed."""
    Channel("ordered-log").send({"text": message["text"], "order": message["order"]})


class ChannelTestCaseExamples(ChannelTestCase):
    """2.12.1 - 2.12.3: messages, generic consumers and groups on the captive layer."""

    def test_a_thing(self) -> None:
        # This goes onto an in-memory channel, not the real backend.
        Channel("some-channel-name").send({"foo": "bar"})
        self.assertEqual(self.get_next_message("some-channel-name")["foo"], "bar")

    def test_square_consumer(self) -> None:
        # Inject a message onto the channel to use in a consumer
        Channel("input").send({"value": 33})
        # Run the consumer with the new Message object
        my_consumer(self.get_next_message("input", require=True))
        # Verify there's a result and that it's accurate
        result = self.get_next_message("result", require=True)
        self.assertEqual(result["value"], 1089)

    def test_generic_consumer(self) -> None:
        # Inject a message onto the channel to use in a consumer
        Channel("input").send({"value": 33, "reply_channel": "test.reply!abc"})
        # Run the consumer with the new Message object
        message = self.get_next_message("input", require=True)
        MyConsumer(message)
        # Verify there's a reply and that it's accurate
        result = self.get_next_message(message.reply_channel.name, require=True)
        self.assertEqual(result["value"], 1089)

    def test_groups(self) -> None:
        # Add a test channel to a test group
        Group("test-group").add("test-channel")
        # Send to the group
        Group("test-group").send({"value": 42})
        # Verify the message got into the destination channel
        result = self.get_next_message("test-channel", require=True)
        self.assertEqual(result["value"], 42)

    def test_require_fails_the_test_when_nothing_came(self) -> None:
        with self.assertRaisesRegex(AssertionError, "Expected a message on channel 'result'"):
            self.get_next_message("result", require=True)
        self.assertIsNone(self.get_next_message("result"))


@apply_routes([route("my_internal_channel", internal_consumer)])
class ClientExamples(ChannelTestCase):
    """2.12.4: Client.send_and_consume and receive."""

    def test_my_consumer(self) -> None:
        client = Client()
        client.send_and_consume("my_internal_channel", {"value": "my_value"})
        self.assertEqual(client.receive(), {"all is": "done"})


@apply_routes([route("websocket.receive", ordered_receive)])
class OrderedHttpClientExamples(ChannelTestCase):
    """2.12.4: HttpClient(ordered=True) and hand-made order with enforce_ordering."""

    def log(self) -> list[str]:
        texts = []
        while (message := self.get_next_message("ordered-log")) is not None:
            texts.append(message["text"])
        return texts

    def test_ordered_flag_numbers_messages(self) -> None:
        client = HttpClient(ordered=True)
        client.send_and_consume("websocket.receive", text="1", path="/ws")  # order = 0
        client.send_and_consume("websocket.receive", text="2", path="/ws")  # order = 1
        client.send_and_consume("websocket.receive", text="3", path="/ws")  # order = 2
        self.assertEqual(self.log(), ["1", "2", "3"])

    def test_manual_order_runs_in_order_after_four_consumes(self) -> None:
        # manually
        client = HttpClient()
        client.send("websocket.receive", content={"order": 0}, text="1")
        client.send("websocket.receive", content={"order": 2}, text="2")
        client.send("websocket.receive", content={"order": 1}, text="3")

        # calling consume 4 time for `waiting` message with order 1
        client.consume("websocket.receive")
        client.consume("websocket.receive")
        client.consume("websocket.receive")
        client.consume("websocket.receive")
        # In order of "order": 0 ("1"), 1 ("3"), then the parked 2 ("2").
        self.assertEqual(self.log(), ["1", "3", "2"])
        with self.assertRaisesRegex(AssertionError, "No message to consume"):
            client.consume("websocket.receive")
