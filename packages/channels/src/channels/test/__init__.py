"""Tools for testing consumers: captive layers, message clients, routes and a live server.

``ChannelTestCase`` swaps the channel layer for an in-memory one in each
test; ``Client``/``WSClient``/``HttpClient`` send messages and run consumers;
``apply_routes`` swaps the routing; ``ChannelLiveServerTestCase`` runs real
Daphne and worker processes for browser tests.
"""

from channels.test.base import (
    ChannelTestCase,
    ChannelTestCaseMixin,
    Client,
    TransactionChannelTestCase,
    apply_routes,
)
from channels.test.http import HttpClient
from channels.test.liveserver import ChannelLiveServerTestCase
from channels.test.websocket import WSClient

__all__ = [
    "ChannelLiveServerTestCase",
    "ChannelTestCase",
    "ChannelTestCaseMixin",
    "Client",
    "HttpClient",
    "TransactionChannelTestCase",
    "WSClient",
    "apply_routes",
]
