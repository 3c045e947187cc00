"""The Django app config: checks, settings-change hooks and the runserver take-over."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed

__all__ = ["ChannelsConfig"]


class ChannelsConfig(AppConfig):  # type: ignore[misc]
    """Django app for Channels; add ``"channels"`` to ``INSTALLED_APPS``."""

    name = "channels"
    label = "channels"
    verbose_name = "Channels"

    def ready(self) -> None:
        """Register the checks, follow CHANNEL_LAYERS changes and take over runserver."""
        from channels.checks import register_checks

        register_checks()
        setting_changed.connect(_reset_layers, dispatch_uid="channels.reset_layers")
        # Whatever the INSTALLED_APPS order, runserver is Channels' (see _runserver_hook).
        if importlib.util.find_spec("channels._runserver_hook") is not None:
            importlib.import_module("channels._runserver_hook").install_runserver_command()


def _reset_layers(setting: str, **kwargs: Any) -> None:
    if setting in ("CHANNEL_LAYERS", "CHANNEL_BACKENDS"):
        from channels.asgi import channel_layers

        channel_layers.reset()
