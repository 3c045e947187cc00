"""Settings of the benchmark project; the environment chooses the channel layer.

``BENCH_LAYER``: ``inmemory``, ``redis``, ``ipc``, ``rabbitmq`` (ASGI 1 layers for
this project and the original stack), ``modern`` (channels_redis for channels 4)
or ``wsgi`` (no channels at all). ``BENCH_PREFIX`` keeps every run's names apart
from the tests sharing the servers; ``BENCH_REDIS_URL`` / ``BENCH_RABBITMQ_URL``
point at the servers. ``BENCH_LAYER_CONFIG``, a JSON object, adds to or overrides
the layer's ``CONFIG`` (for trying an option, e.g. ``{"busy_poll_us": 0}``).
"""

import json
import os

SECRET_KEY = "bench-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "benchproj.urls"
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING_CONFIG = None

LAYER = os.environ.get("BENCH_LAYER", "inmemory")
PREFIX = os.environ.get("BENCH_PREFIX", "bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:16379/9")
RABBITMQ_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5673/%2F")
CAPACITY = 10000  # 1,000 sockets connect at once in the broadcast test

INSTALLED_APPS = [] if LAYER == "wsgi" else ["channels"]

if LAYER == "modern":
    ASGI_APPLICATION = "benchproj.modern_asgi.application"
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": PREFIX, "capacity": CAPACITY},
        }
    }
elif LAYER != "wsgi":
    _BACKENDS = {
        "inmemory": ("asgiref.inmemory.ChannelLayer", {}),
        "redis": ("asgi_redis.RedisChannelLayer", {"hosts": [REDIS_URL], "prefix": PREFIX + ":"}),
        "ipc": ("asgi_ipc.IPCChannelLayer", {"prefix": PREFIX}),
        "rabbitmq": ("asgi_rabbitmq.RabbitmqChannelLayer", {"url": RABBITMQ_URL, "prefix": PREFIX}),
    }
    _backend, _config = _BACKENDS[LAYER]
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": _backend,
            "CONFIG": {
                **_config,
                "capacity": CAPACITY,
                **json.loads(os.environ.get("BENCH_LAYER_CONFIG") or "{}"),
            },
            "ROUTING": "benchproj.routing.channel_routing",
        }
    }
