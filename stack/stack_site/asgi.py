"""The channel layer for Daphne: ``daphne stack_site.asgi:channel_layer``."""

import os

from channels.asgi import get_channel_layer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stack_site.settings")
channel_layer = get_channel_layer()
