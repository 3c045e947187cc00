"""Settings of the chat example.

Pick the channel layer with the CHAT_LAYER environment variable:

- ``inmemory`` (default): one process only, for ``manage.py runserver``;
- ``ipc``: POSIX shared memory on this machine (CHAT_IPC_PREFIX names it);
- ``redis``: a Redis server at CHAT_REDIS_URL (default redis://127.0.0.1:6379/0),
  keys under CHAT_REDIS_PREFIX.

The SQLite database lives in CHAT_STATE_DIR (default: .state/chat at the
repository root).
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("CHAT_STATE_DIR", BASE_DIR.parent.parent / ".state" / "chat"))
STATE_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("CHAT_SECRET_KEY", "chat-example-not-secret-change-me")
DEBUG = os.environ.get("CHAT_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"] + [
    host for host in os.environ.get("CHAT_ALLOWED_HOSTS", "").split(",") if host
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "chat",
    "channels",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chat_site.urls"
WSGI_APPLICATION = "chat_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": STATE_DIR / "db.sqlite3",
        # Worker threads and processes share the file; wait for locks instead of failing.
        "OPTIONS": {"timeout": 20},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
LOGIN_URL = "/login/"

CHAT_LAYER = os.environ.get("CHAT_LAYER", "inmemory")
LAYERS = {
    "inmemory": {"BACKEND": "asgiref.inmemory.ChannelLayer"},
    "ipc": {
        "BACKEND": "asgi_ipc.IPCChannelLayer",
        "CONFIG": {"prefix": os.environ.get("CHAT_IPC_PREFIX", "chat")},
    },
    "redis": {
        "BACKEND": "asgi_redis.RedisChannelLayer",
        "CONFIG": {
            "hosts": [os.environ.get("CHAT_REDIS_URL", "redis://127.0.0.1:6379/0")],
            "prefix": os.environ.get("CHAT_REDIS_PREFIX", "chat:"),
        },
    },
}
if CHAT_LAYER not in LAYERS:
    raise ImproperlyConfigured(
        f"CHAT_LAYER is {CHAT_LAYER!r}; set it to one of {', '.join(sorted(LAYERS))}."
    )

CHANNEL_LAYERS = {
    "default": {
        **LAYERS[CHAT_LAYER],
        "ROUTING": "chat_site.routing.channel_routing",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "chat": {"handlers": ["console"], "level": "INFO"},
    },
}
