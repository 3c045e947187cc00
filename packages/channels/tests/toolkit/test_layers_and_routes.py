"""Captive layers per test, test_channel_aliases, apply_routes and the exported names."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import channels.test
import pytest
from asgiref.inmemory import ChannelLayer
from channels import Channel
from channels.asgi import channel_layers
from channels.message import Message
from channels.routing import route
from channels.test import (
    ChannelTestCase,
    Client,
    TransactionChannelTestCase,
    WSClient,
    apply_routes,
)
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings


def answer(message: Message, **kwargs: Any) -> None:
    """Reply "answer"."""
    message.reply_channel.send({"said": "answer"})


def other_answer(message: Message, **kwargs: Any) -> None:
    """Reply "other"."""
    message.reply_channel.send({"said": "other"})


TWO_LAYERS = {
    "default": {
        "BACKEND": "asgi_redis.RedisChannelLayer",
        "ROUTING": "testproject.routing.channel_routing",
        "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
    },
    "other": {"BACKEND": "asgiref.inmemory.ChannelLayer", "ROUTING": []},
}


class CaptiveLayerTests(ChannelTestCase):
    """Each test gets a fresh in-memory layer that keeps the configured routing."""

    def test_a_leaves_a_message_behind(self) -> None:
        Channel("left.over").send({"n": 1})
        layer = channel_layers["default"]
        self.assertIsInstance(layer.channel_layer, ChannelLayer)
        self.assertIn("worker.ping", layer.router.channels)

    def test_b_sees_a_flushed_layer(self) -> None:
        self.assertIsNone(self.get_next_message("left.over"))


class TransactionCaseTests(TransactionChannelTestCase):
    """TransactionChannelTestCase captures the layer too."""

    def test_layer_is_captive(self) -> None:
        Channel("t").send({"n": 2})
        self.assertEqual(self.get_next_message("t", require=True)["n"], 2)


@override_settings(CHANNEL_LAYERS=TWO_LAYERS)
class AliasTests(ChannelTestCase):
    """test_channel_aliases replaces several layers; alias= picks one."""

    test_channel_aliases = ["default", "other"]

    def test_both_aliases_are_captive_and_separate(self) -> None:
        # "default" would be an unreachable Redis server without the captive layer.
        Channel("x").send({"layer": "default"})
        Channel("x", alias="other").send({"layer": "other"})
        self.assertEqual(self.get_next_message("x", alias="other")["layer"], "other")
        self.assertEqual(self.get_next_message("x")["layer"], "default")

    def test_client_and_apply_routes_honour_aliases(self) -> None:
        client = Client(alias="other")
        with apply_routes([route("ask", other_answer)], aliases=["other"]):
            client.send_and_consume("ask", {})
            self.assertEqual(client.receive(), {"said": "other"})
            self.assertIsNone(Client().get_consumer_by_channel("ask"))
        self.assertIsNone(client.get_consumer_by_channel("ask"))
        with apply_routes([route("ask", answer)], aliases=["default", "other"]):
            self.assertIs(Client().get_consumer_by_channel("ask"), answer)
            self.assertIs(client.get_consumer_by_channel("ask"), answer)


def test_unknown_alias_in_test_channel_aliases_is_named() -> None:
    class Broken(ChannelTestCase):
        test_channel_aliases = ["nope"]

        def test_nothing(self) -> None:
            """Never runs: set-up fails."""

    with pytest.raises(ImproperlyConfigured, match="test_channel_aliases names 'nope'"):
        Broken._pre_setup()
    assert "nope" not in channel_layers.backends


class ApplyRoutesTests(ChannelTestCase):
    """apply_routes as context manager, function decorator, nested, and on bad input."""

    def test_context_manager_swaps_and_restores(self) -> None:
        client = WSClient()
        original = channel_layers["default"].router
        with apply_routes([route("ask", answer)]):
            client.send_and_consume("ask")
            self.assertEqual(client.receive(), {"said": "answer"})
            with apply_routes([route("ask", other_answer)]):
                client.send_and_consume("ask")
                self.assertEqual(client.receive(), {"said": "other"})
            client.send_and_consume("ask")
            self.assertEqual(client.receive(), {"said": "answer"})
        self.assertIs(channel_layers["default"].router, original)
        self.assertIsNone(client.get_consumer_by_channel("ask"))

    @apply_routes([route("ask", answer)])
    def test_function_decorator(self) -> None:
        self.assertIs(Client().get_consumer_by_channel("ask"), answer)

    def test_restores_after_an_exception(self) -> None:
        with self.assertRaises(RuntimeError), apply_routes([route("ask", answer)]):
            raise RuntimeError("inside")
        self.assertIsNone(Client().get_consumer_by_channel("ask"))

    def test_bad_arguments_are_named(self) -> None:
        with self.assertRaisesRegex(TypeError, "aliases=\\['default'\\]"):
            apply_routes([], aliases="default")
        with self.assertRaisesRegex(ImproperlyConfigured, "not a routing object"):
            with apply_routes(["junk"]):
                pass
        self.assertIn("worker.ping", channel_layers["default"].router.channels)


def test_exported_names() -> None:
    assert set(channels.test.__all__) == {
        "ChannelLiveServerTestCase",
        "ChannelTestCase",
        "ChannelTestCaseMixin",
        "Client",
        "HttpClient",
        "TransactionChannelTestCase",
        "WSClient",
        "apply_routes",
    }
    for name in channels.test.__all__:
        assert getattr(channels.test, name).__doc__


def test_channels_tests_is_a_deprecated_alias() -> None:
    sys.modules.pop("channels.tests", None)
    with pytest.warns(DeprecationWarning, match="import the same names from channels.test"):
        legacy = importlib.import_module("channels.tests")
    assert legacy.ChannelTestCase is channels.test.ChannelTestCase
    assert set(legacy.__all__) == set(channels.test.__all__)
