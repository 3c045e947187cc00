"""The Django app config of the delay server."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["DelayConfig"]


class DelayConfig(AppConfig):  # type: ignore[misc]
    """The delay server app; add ``"channels.delay"`` to ``INSTALLED_APPS``.

    Django needs an app label without dots, so the label is ``channels_delay``
    (the name of its tables and migrations); the INSTALLED_APPS entry stays
    ``"channels.delay"``.
    """

    name = "channels.delay"
    label = "channels_delay"
    verbose_name = "Channels delay server"
    default_auto_field = "django.db.models.BigAutoField"
