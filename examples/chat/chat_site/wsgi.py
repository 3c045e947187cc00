"""WSGI entry point (plain HTTP only; WebSockets need Daphne and workers)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_site.settings")
application = get_wsgi_application()
