"""Class-based (generic) consumers; the WebSocket ones live in ``channels.generic.websockets``."""

from channels.generic.base import BaseConsumer

__all__ = ["BaseConsumer"]
