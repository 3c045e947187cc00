"""Channel routing (channels 1.x API): the echo and broadcast WebSocket consumers."""

from typing import Any

from benchproj.views import GROUP
from channels import Group
from channels.routing import route


def accept(message: Any, **kwargs: Any) -> None:
    """Accept an echo WebSocket."""
    message.reply_channel.send({"accept": True})


def echo(message: Any, **kwargs: Any) -> None:
    """Send a WebSocket frame's text back to its sender."""
    message.reply_channel.send({"text": message["text"]})


def join(message: Any, **kwargs: Any) -> None:
    """Add a broadcast WebSocket to the group, then accept it."""
    Group(GROUP).add(message.reply_channel)
    message.reply_channel.send({"accept": True})


def leave(message: Any, **kwargs: Any) -> None:
    """Drop a closed broadcast WebSocket from the group."""
    Group(GROUP).discard(message.reply_channel)


channel_routing = [
    route("websocket.connect", accept, path=r"^/echo/?$"),
    route("websocket.receive", echo, path=r"^/echo/?$"),
    route("websocket.connect", join, path=r"^/broadcast/?$"),
    route("websocket.disconnect", leave, path=r"^/broadcast/?$"),
]
