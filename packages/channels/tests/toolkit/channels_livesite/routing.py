"""WebSocket routes of the live-server test project."""

from typing import Any

from channels import Group
from channels.message import Message
from channels.routing import route


def echo(message: Message, **kwargs: Any) -> None:
    """Send the frame back."""
    message.reply_channel.send({"text": "echo:" + message["text"]})


def join(message: Message, **kwargs: Any) -> None:
    """Accept and join the "live" group."""
    message.reply_channel.send({"accept": True})
    Group("live").add(message.reply_channel)


channel_routing = [
    route("websocket.receive", echo, path=r"^/echo/$"),
    route("websocket.connect", join, path=r"^/group/$"),
]
