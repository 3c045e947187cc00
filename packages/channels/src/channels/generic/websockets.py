"""Generic WebSocket consumers: plain, JSON, and multiplexed streams over one socket."""

from channels.generic._multiplex import WebsocketDemultiplexer, WebsocketMultiplexer
from channels.generic._websocket import JsonWebsocketConsumer, WebsocketConsumer
from channels.generic.base import BaseConsumer, InvalidFrameError

__all__ = [
    "BaseConsumer",
    "InvalidFrameError",
    "JsonWebsocketConsumer",
    "WebsocketConsumer",
    "WebsocketDemultiplexer",
    "WebsocketMultiplexer",
]
