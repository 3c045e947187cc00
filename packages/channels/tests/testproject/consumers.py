"""Consumers referred to by dotted path in the routing tests."""

from typing import Any

from channels.message import Message


def by_path(message: Message, **kwargs: Any) -> None:
    """Record that it ran, in the message content."""
    message.content["ran"] = "by_path"


class ClassConsumer:
    """A minimal class-based consumer: channel_names() plus a constructor that runs it."""

    @classmethod
    def channel_names(cls) -> set[str]:
        """Return the channels this consumer handles."""
        return {"websocket.connect", "websocket.receive"}

    def __init__(self, message: Message, **kwargs: Any) -> None:
        message.content["ran"] = ("ClassConsumer", kwargs)


nested_routing = {"test.dict": "testproject.consumers.by_path"}
channel_routing = [("not", "a", "route")]
