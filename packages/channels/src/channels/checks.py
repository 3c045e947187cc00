"""Django system checks for the Channels settings (ids ``channels.E00x``/``W00x``)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from channels.asgi import (
    DEFAULT_CHANNEL_LAYER,
    InvalidChannelLayerError,
    import_backend,
    layer_configs,
    validate_layer_config,
)

__all__ = ["check_channel_layers", "check_session_engine", "register_checks"]

SIGNED_COOKIES = "django.contrib.sessions.backends.signed_cookies"
EXAMPLE = (
    "CHANNEL_LAYERS = {'default': {'BACKEND': 'asgiref.inmemory.ChannelLayer', "
    "'ROUTING': 'myproject.routing.channel_routing'}}"
)


def check_channel_layers(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[Any]:
    """Check CHANNEL_LAYERS: its shape, each BACKEND and each ROUTING."""
    from channels.routing import Router

    errors: list[Any] = []
    if getattr(settings, "CHANNEL_BACKENDS", None) is not None and not hasattr(
        settings, "CHANNEL_LAYERS"
    ):
        errors.append(
            checks.Warning(
                "The CHANNEL_BACKENDS setting is deprecated.",
                hint="Rename it to CHANNEL_LAYERS and set each BACKEND to a channel layer "
                "such as 'asgi_redis.RedisChannelLayer'.",
                id="channels.W001",
            )
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            configs = layer_configs()
    except InvalidChannelLayerError as exc:
        return [checks.Error(str(exc), hint=f"Use e.g. {EXAMPLE}", id="channels.E001")]
    if configs and DEFAULT_CHANNEL_LAYER not in configs:
        errors.append(
            checks.Error(
                f"CHANNEL_LAYERS defines {sorted(configs)!r} but no 'default' layer.",
                hint="Channel(), Group() and the commands use the 'default' alias; add it.",
                id="channels.E005",
            )
        )
    for alias, config in configs.items():
        try:
            valid = validate_layer_config(alias, config)
        except InvalidChannelLayerError as exc:
            errors.append(checks.Error(str(exc), hint=f"Use e.g. {EXAMPLE}", id="channels.E002"))
            continue
        try:
            import_backend(alias, valid["BACKEND"])
        except InvalidChannelLayerError as exc:
            errors.append(
                checks.Error(
                    str(exc),
                    hint="Install the layer's package (e.g. asgi_redis) or fix the path.",
                    id="channels.E003",
                )
            )
        try:
            Router(valid.get("ROUTING", []))
        except (ImproperlyConfigured, TypeError, ValueError) as exc:
            errors.append(
                checks.Error(
                    f"CHANNEL_LAYERS[{alias!r}]['ROUTING'] is unusable: {exc}",
                    hint="Point ROUTING at a list of route()/route_class()/include() objects, "
                    "e.g. 'myproject.routing.channel_routing'.",
                    id="channels.E004",
                )
            )
    return errors


def check_session_engine(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[Any]:
    """Warn when channel sessions would use signed-cookie sessions, which cannot work."""
    engine = getattr(settings, "CHANNEL_SESSION_ENGINE", None) or getattr(
        settings, "SESSION_ENGINE", ""
    )
    if engine == SIGNED_COOKIES and getattr(settings, "CHANNEL_LAYERS", None):
        return [
            checks.Warning(
                "Channel sessions (@channel_session) cannot use signed-cookie sessions.",
                hint="Set CHANNEL_SESSION_ENGINE to a server-side engine such as "
                "'django.contrib.sessions.backends.cache'.",
                id="channels.W002",
            )
        ]
    return []


def register_checks() -> None:
    """Register the Channels checks with Django's check framework (tag "channels")."""
    checks.register(check_channel_layers, "channels")
    checks.register(check_session_engine, "channels")
