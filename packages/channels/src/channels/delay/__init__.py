"""The delay server: ``manage.py rundelay`` sends messages on after a delay (asgi.delay)."""
