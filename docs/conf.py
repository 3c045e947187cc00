"""Sphinx configuration for the Channels stack documentation (``make docs``)."""

import django
from django.conf import settings

# Autodoc imports channels modules, which need configured settings.
if not settings.configured:
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "channels",
        ],
        CHANNEL_LAYERS={"default": {"BACKEND": "asgiref.inmemory.ChannelLayer", "ROUTING": []}},
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        SECRET_KEY="docs",
        USE_TZ=True,
    )
    django.setup()

project = "Channels stack"
author = "The Channels stack contributors"
copyright = "2026, the Channels stack contributors"
release = "2.0.0.dev0"

extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []
autodoc_member_order = "bysource"
autodoc_typehints = "none"
nitpicky = False
