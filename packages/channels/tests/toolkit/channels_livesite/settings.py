"""Settings of the live-server test project.

CONFIG points at a Redis server that does not exist, so the tests only pass if
ChannelLiveServerTestCase really uses TEST_CONFIG. CHANNELS_LIVESITE_LAYER picks
``redis`` (ASGI_REDIS_URL) or ``ipc``; CHANNELS_LIVESITE_PREFIX keeps runs apart;
CHANNELS_LIVESITE_DIR holds the SQLite files.
"""

import os

STATE_DIR = os.environ["CHANNELS_LIVESITE_DIR"]
PREFIX = os.environ["CHANNELS_LIVESITE_PREFIX"]

SECRET_KEY = "channels-livesite-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "channels_livesite.urls"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(STATE_DIR, "live.sqlite3"),
        "TEST": {"NAME": os.path.join(STATE_DIR, "live-test.sqlite3")},
    }
}
STATIC_URL = "/static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

if os.environ.get("CHANNELS_LIVESITE_LAYER", "redis") == "ipc":
    _BACKEND = "asgi_ipc.IPCChannelLayer"
    _CONFIG = {"prefix": "livesite-dev-unused"}
    _TEST_CONFIG = {"prefix": PREFIX}
else:
    _BACKEND = "asgi_redis.RedisChannelLayer"
    _CONFIG = {"hosts": ["redis://127.0.0.1:1/0"]}
    _TEST_CONFIG = {
        "hosts": [os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")],
        "prefix": PREFIX + ":",
        "receive_timeout": 1.0,
    }

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _BACKEND,
        "ROUTING": "channels_livesite.routing.channel_routing",
        "CONFIG": _CONFIG,
        "TEST_CONFIG": _TEST_CONFIG,
    }
}
