"""CHANNEL_LAYERS handling, channel_layers/get_channel_layer, system checks, exports."""

from __future__ import annotations

import importlib
from typing import Any

import channels
import pytest
from asgiref.inmemory import ChannelLayer
from channels.asgi import (
    ChannelLayerWrapper,
    InvalidChannelLayerError,
    channel_layers,
    get_channel_layer,
)
from channels.routing import Router
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

INMEMORY = "asgiref.inmemory.ChannelLayer"


def layers(**aliases: Any) -> Any:
    return override_settings(CHANNEL_LAYERS=aliases)


def channel_errors() -> list[tuple[str, str]]:
    return [(m.id, m.msg) for m in run_checks(tags=["channels"])]


def test_wrapper_exposes_alias_router_routing_and_layer() -> None:
    with layers(default={"BACKEND": INMEMORY, "ROUTING": "testproject.routing.channel_routing"}):
        wrapper = channel_layers["default"]
        assert isinstance(wrapper, ChannelLayerWrapper)
        assert wrapper.alias == "default"
        assert wrapper.routing == "testproject.routing.channel_routing"
        assert isinstance(wrapper.router, Router)
        assert "worker.ping" in wrapper.router.channels
        assert isinstance(wrapper.channel_layer, ChannelLayer)
        assert wrapper.extensions == wrapper.channel_layer.extensions  # falls through
        assert channel_layers["default"] is wrapper  # built once
        assert "default" in channel_layers and "other" not in channel_layers
        assert get_channel_layer() is wrapper.channel_layer


def test_config_is_passed_to_the_layer_and_test_config_for_tests() -> None:
    config = {"BACKEND": INMEMORY, "CONFIG": {"capacity": 7}, "TEST_CONFIG": {"capacity": 3}}
    with layers(default=config):
        assert channel_layers["default"].capacity == 7
        assert channel_layers.make_test_backend("default").capacity == 3
    with layers(default={"BACKEND": INMEMORY, "CONFIG": {"capacity": 7}}):
        assert channel_layers.make_test_backend("default").capacity == 7


def test_routing_may_be_a_list_or_dict() -> None:
    from testproject.consumers import by_path

    with layers(default={"BACKEND": INMEMORY, "ROUTING": {"a.b": by_path}}):
        assert "a.b" in channel_layers["default"].router.channels
    with layers(default={"BACKEND": INMEMORY}):  # no ROUTING: only the default routes
        assert channel_layers["default"].router.channels == {
            "http.request",
            "websocket.connect",
            "websocket.receive",
            "websocket.disconnect",
        }


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        ({}, "CHANNEL_LAYERS setting is missing or empty"),
        ({"other": {"BACKEND": INMEMORY}}, "No channel layer with the alias 'default'"),
        ({"default": {"ROUTING": []}}, "has no 'BACKEND'; set it to a dotted path"),
        ({"default": {"BACKEND": "no.such.Layer"}}, "cannot be imported"),
        ({"default": {"BACKEND": INMEMORY, "CONFIG": {"bogus": 1}}}, "rejected its CONFIG"),
        ({"default": {"BACKEND": INMEMORY, "CONFIG": [1]}}, r"\['CONFIG'\] must be a dict"),
        ({"default": {"BACKEND": INMEMORY, "HOSTS": []}}, "unknown keys \\['HOSTS'\\]"),
        ({"default": "asgiref"}, "must be a dict with 'BACKEND'"),
    ],
)
def test_misconfiguration_raises_improperly_configured_naming_the_setting(
    setting: Any, error: str
) -> None:
    with (
        override_settings(CHANNEL_LAYERS=setting),
        pytest.raises(ImproperlyConfigured, match=error),
    ):
        channel_layers["default"]


def test_invalid_channel_layer_error_is_also_a_value_error() -> None:
    assert issubclass(InvalidChannelLayerError, ValueError)
    assert issubclass(InvalidChannelLayerError, ImproperlyConfigured)


def test_legacy_channel_backends_work_with_a_deprecation_warning() -> None:
    legacy = {
        "default": {
            "BACKEND": "channels.backends.memory.InMemoryChannelBackend",
            "ROUTING": {"a.b": "testproject.consumers.by_path"},
        }
    }
    with override_settings(CHANNEL_BACKENDS=legacy):
        from django.conf import settings

        del settings.CHANNEL_LAYERS
        with pytest.warns(DeprecationWarning, match="CHANNEL_BACKENDS setting is deprecated"):
            wrapper = channel_layers["default"]
        assert isinstance(wrapper.channel_layer, ChannelLayer)
        assert "a.b" in wrapper.router.channels
        assert [i for i, _ in channel_errors()] == ["channels.W001"]


def test_checks_pass_for_the_test_settings() -> None:
    assert channel_errors() == []


@pytest.mark.parametrize(
    ("setting", "check_id"),
    [
        ("not a dict", "channels.E001"),
        ({"default": {"ROUTING": []}}, "channels.E002"),
        ({"default": {"BACKEND": "no.such.Layer"}}, "channels.E003"),
        ({"default": {"BACKEND": INMEMORY, "ROUTING": "no.such.routing"}}, "channels.E004"),
        ({"other": {"BACKEND": INMEMORY}}, "channels.E005"),
    ],
)
def test_checks_report_misconfiguration_with_ids(setting: Any, check_id: str) -> None:
    with override_settings(CHANNEL_LAYERS=setting):
        found = channel_errors()
    assert [i for i, _ in found] == [check_id]
    for message in run_checks(tags=["channels"]):
        assert message.hint


@override_settings(SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies")
def test_check_warns_about_signed_cookie_channel_sessions() -> None:
    assert [i for i, _ in channel_errors()] == ["channels.W002"]


def test_project_asgi_module_exposes_the_layer_for_daphne() -> None:
    module = importlib.import_module("testproject.asgi")
    assert module.channel_layer is channel_layers["default"].channel_layer


def test_exported_names_are_exactly_the_intended_ones() -> None:
    expected = {
        "channels": {
            "DEFAULT_CHANNEL_LAYER",
            "Channel",
            "Group",
            "__version__",
            "channel_layers",
            "include",
            "route",
            "route_class",
        },
        "channels.routing": {
            "Include",
            "Route",
            "RouteClass",
            "Router",
            "connect_consumer",
            "include",
            "null_consumer",
            "route",
            "route_class",
        },
        "channels.sessions": {
            "channel_and_http_session",
            "channel_session",
            "enforce_ordering",
            "http_session",
            "session_for_reply_channel",
        },
        "channels.auth": {
            "channel_and_http_session_user_from_http",
            "channel_session_user",
            "channel_session_user_from_http",
            "http_session_user",
            "transfer_user",
        },
        "channels.exceptions": {
            "ChannelSocketException",
            "ConsumeLater",
            "DenyConnection",
            "RequestAborted",
            "RequestTimeout",
            "ResponseLater",
            "WebsocketCloseException",
        },
        "channels.security.websockets": {
            "AllowedHostsOnlyOriginValidator",
            "BaseOriginValidator",
            "allowed_hosts_only",
        },
        "channels.worker": {"Worker", "WorkerGroup"},
        "channels.channel": {"Channel", "Group"},
        "channels.message": {"Message", "PendingMessageStore", "pending_message_store"},
        "channels.asgi": {
            "DEFAULT_CHANNEL_LAYER",
            "ChannelLayerManager",
            "ChannelLayerWrapper",
            "InvalidChannelLayerError",
            "channel_layers",
            "get_channel_layer",
        },
        "channels.decorators": {
            "channel_session",
            "channel_session_user",
            "django_http_auth",
            "enforce_ordering",
            "http_django_auth",
            "http_session",
            "http_session_user",
        },
        "channels.checks": {"check_channel_layers", "check_session_engine", "register_checks"},
        "channels.utils": {"name_that_thing"},
        "channels.signals": {
            "consumer_finished",
            "consumer_started",
            "worker_process_ready",
            "worker_ready",
        },
    }
    for module_name, names in expected.items():
        module = importlib.import_module(module_name)
        assert set(module.__all__) == names, module_name
        for name in names:
            assert hasattr(module, name), (module_name, name)
    assert channels.__version__
