"""Data binding of Value on the "values" stream, and the socket's demultiplexer."""

from typing import Any

from channels.binding.websockets import WebsocketBinding
from channels.generic.websockets import JsonWebsocketConsumer, WebsocketDemultiplexer

from liveproject.models import Value

GROUP = "live-values"


class ValueBinding(WebsocketBinding):
    """Send every change of a Value to the sockets in GROUP."""

    model = Value
    stream = "values"
    fields = ["name", "value"]

    @classmethod
    def group_names(cls, instance: Any) -> list[str]:
        """Return the one group every page listens on."""
        return [GROUP]

    def has_permission(self, user: Any, action: str, pk: Any) -> bool:
        """Allow everything: this is a test site."""
        return True


class EchoConsumer(JsonWebsocketConsumer):
    """Answer every JSON payload with {"echo": payload}."""

    def receive(self, content: Any, multiplexer: Any = None, **kwargs: Any) -> None:
        """Send the payload back on its own stream."""
        multiplexer.send({"echo": content})


class Demultiplexer(WebsocketDemultiplexer):
    """The page's one socket: an echo stream and the Value binding stream."""

    consumers = {"echo": EchoConsumer, "values": ValueBinding.consumer}

    def connection_groups(self, **kwargs: Any) -> list[str]:
        """Put each socket in the binding's group."""
        return [GROUP]
