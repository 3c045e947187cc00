"""Channel routing of the test project."""

import time
from typing import Any

from channels import Channel, Group
from channels.message import Message
from channels.routing import route


def echo(message: Message, **kwargs: Any) -> None:
    """Send the text of a WebSocket frame back to its sender."""
    message.reply_channel.send({"text": message["text"]})


def join(message: Message, **kwargs: Any) -> None:
    """Accept the connection and add it to the 'everyone' group."""
    message.reply_channel.send({"accept": True})
    Group("everyone").add(message.reply_channel)


def ping(message: Message, **kwargs: Any) -> None:
    """Answer {"pong": n} on the channel named by ``reply_to``."""
    Channel(message["reply_to"], channel_layer=message.channel_layer).send({"pong": message["n"]})


def slow(message: Message, **kwargs: Any) -> None:
    """Say "started" at once, work for ``seconds``, then say "done" (for shutdown tests)."""
    reply = Channel(message["reply_to"], channel_layer=message.channel_layer)
    reply.send({"started": message["n"]}, immediately=True)
    time.sleep(message["seconds"])
    reply.send({"done": message["n"]})


channel_routing = [
    route("websocket.connect", join, path=r"^/everyone/$"),
    route("websocket.receive", echo, path=r"^/echo/$"),
    route("worker.ping", ping),
    route("worker.slow", slow),
]
