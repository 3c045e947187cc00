"""Channels: WebSockets and background work for Django, via ASGI channel layers."""

from channels.asgi import DEFAULT_CHANNEL_LAYER, channel_layers
from channels.channel import Channel, Group
from channels.routing import include, route, route_class

__version__ = "2.0.0.dev0"

__all__ = [
    "DEFAULT_CHANNEL_LAYER",
    "Channel",
    "Group",
    "__version__",
    "channel_layers",
    "include",
    "route",
    "route_class",
]
