"""The chat app config."""

from django.apps import AppConfig


class ChatConfig(AppConfig):
    """Chat rooms over WebSockets."""

    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"
