"""Settings of the live-server test site: IPC layer, SQLite file, DEBUG static files."""

import os

SECRET_KEY = "liveproject-not-secret"
# DEBUG makes runworker serve static files (websocketbridge.js) like runserver does.
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "liveproject.urls"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    # The binding consumer keeps the user in the channel session.
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    "liveproject",
]
MIDDLEWARE: list[str] = []
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("LIVE_DB_PATH", "liveproject.sqlite3"),
        # Worker threads share the file; wait for locks instead of failing.
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
STATIC_URL = "/static/"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {},
    }
]
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "asgi_ipc.IPCChannelLayer",
        "CONFIG": {"prefix": os.environ.get("LIVE_IPC_PREFIX", "liveproject")},
        "ROUTING": "liveproject.routing.channel_routing",
    },
}
