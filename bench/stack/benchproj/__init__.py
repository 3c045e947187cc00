"""The Django project every full-stack benchmark configuration serves.

One code base runs on all stacks: this project's channels (Django 5.2), the
original channels 1.1.8 (Django 2.2), channels 4 (the modern successor, through
``modern_asgi``) and plain WSGI under gunicorn. ``BENCH_LAYER`` picks the layer.
"""
