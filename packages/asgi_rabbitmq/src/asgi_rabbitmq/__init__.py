"""RabbitMQ-backed ASGI 1 channel layer on pika.

Use it from Django settings::

    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "asgi_rabbitmq.RabbitmqChannelLayer",
            "ROUTING": "my_project.routing.channel_routing",
            "CONFIG": {"url": "amqp://guest:guest@rabbitmq:5672/%2F"},
        },
    }
"""

from __future__ import annotations

from ._link import QueueArgumentsMismatchError, RabbitmqConnectionError, RabbitmqLayerError
from .core import RabbitmqChannelLayer
from .local import RabbitmqLocalChannelLayer

__all__ = [
    "QueueArgumentsMismatchError",
    "RabbitmqChannelLayer",
    "RabbitmqConnectionError",
    "RabbitmqLayerError",
    "RabbitmqLocalChannelLayer",
]
