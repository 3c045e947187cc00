"""Settings of the stack test site, chosen by environment variables.

- ``STACK_LAYER``: ``redis`` (default), ``rabbitmq`` or ``ipc``;
- ``STACK_REDIS_HOSTS``: comma-separated Redis URLs (two or more are shards);
- ``STACK_RABBITMQ_URL``: the broker for ``rabbitmq``;
- ``STACK_PREFIX``: the layer prefix (every test run uses its own);
- ``STACK_ENCRYPTION_KEY``: when set, the layer encrypts message bodies with it;
- ``STACK_RECORD_DIR``: where consumers append what they received (see consumers.py).
"""

import os

from django.core.exceptions import ImproperlyConfigured

SECRET_KEY = "stack-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "stack_site.urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STACK_LAYER = os.environ.get("STACK_LAYER", "redis")
PREFIX = os.environ.get("STACK_PREFIX", "stack")
_config: dict[str, object] = {"expiry": 30, "prefix": PREFIX, "receive_timeout": 1.0}
if os.environ.get("STACK_ENCRYPTION_KEY"):
    _config["symmetric_encryption_keys"] = [os.environ["STACK_ENCRYPTION_KEY"]]
if STACK_LAYER == "redis":
    BACKEND = "asgi_redis.RedisChannelLayer"
    _config["hosts"] = os.environ.get("STACK_REDIS_HOSTS", "redis://127.0.0.1:16379/0").split(",")
    _config["prefix"] = f"{PREFIX}:"
elif STACK_LAYER == "rabbitmq":
    BACKEND = "asgi_rabbitmq.RabbitmqChannelLayer"
    _config["url"] = os.environ.get("STACK_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5673/%2F")
elif STACK_LAYER == "ipc":
    BACKEND = "asgi_ipc.IPCChannelLayer"
else:
    raise ImproperlyConfigured(
        f"STACK_LAYER is {STACK_LAYER!r}; set it to 'redis', 'rabbitmq' or 'ipc'."
    )

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": BACKEND,
        "CONFIG": _config,
        "ROUTING": "stack_site.routing.channel_routing",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"stack_site": {"handlers": ["console"], "level": "INFO"}},
}
