"""The channels 4 application (modern successor peer): same hello view, echo and broadcast."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")
django_app = get_asgi_application()

from benchproj.views import GROUP  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402


class EchoConsumer(AsyncWebsocketConsumer):
    """Send every text frame back to its sender."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Echo the frame."""
        await self.send(text_data=text_data)


class BroadcastConsumer(AsyncWebsocketConsumer):
    """Join the broadcast group on connect and forward what the group sends."""

    groups = [GROUP]

    async def bench_broadcast(self, event: dict[str, Any]) -> None:
        """Forward a group message to the socket."""
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter(
    {
        "http": django_app,
        "websocket": URLRouter(
            [
                re_path(r"^echo/?$", EchoConsumer.as_asgi()),
                re_path(r"^broadcast/?$", BroadcastConsumer.as_asgi()),
            ]
        ),
    }
)
