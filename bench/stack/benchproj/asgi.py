"""The ASGI 1 entry point: ``daphne benchproj.asgi:channel_layer``."""

import os

from channels.asgi import get_channel_layer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")
channel_layer = get_channel_layer()
