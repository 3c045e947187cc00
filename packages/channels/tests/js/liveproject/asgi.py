"""The channel layer for Daphne: ``daphne liveproject.asgi:channel_layer``."""

import os

from channels.asgi import get_channel_layer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveproject.settings")
channel_layer = get_channel_layer()
