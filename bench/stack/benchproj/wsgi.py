"""The WSGI entry point for gunicorn (the no-hop limit): ``benchproj.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")
application = get_wsgi_application()
