"""``HttpClient``: the name the 1.x documentation also uses for the WebSocket test client."""

from __future__ import annotations

from channels.test.websocket import WSClient

__all__ = ["HttpClient"]


class HttpClient(WSClient):
    """Send WebSocket-style messages with cookies, headers and a session; same as WSClient.

    ``HttpClient(ordered=True)`` numbers each message's ``order`` from 0, for
    consumers that use ``enforce_ordering``.
    """
