"""Deprecated: the test tools moved to :mod:`channels.test`; import them from there."""

import warnings

from channels.test import (
    ChannelLiveServerTestCase,
    ChannelTestCase,
    ChannelTestCaseMixin,
    Client,
    HttpClient,
    TransactionChannelTestCase,
    WSClient,
    apply_routes,
)

warnings.warn(
    "channels.tests is deprecated and will be removed; import the same names from "
    "channels.test instead (e.g. 'from channels.test import ChannelTestCase').",
    DeprecationWarning,
    stacklevel=2,
)

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
