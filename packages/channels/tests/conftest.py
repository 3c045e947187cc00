"""Shared pytest set-up for the channels tests: Django settings from ``testproject``.

The ``testproject`` package sits next to this file; it is put on ``sys.path``
and named in DJANGO_SETTINGS_MODULE here, before pytest-django sets Django up,
so every test directory (core, http, e2e) and any subprocess started with this
environment uses the same settings.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import django
import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
# Subprocesses (daphne, runworker) must find testproject too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p
)


def pytest_configure(config: pytest.Config) -> None:
    """Load the settings so that pytest-django sets Django up (it runs after this hook)."""
    from django.apps import apps
    from django.conf import settings

    settings.INSTALLED_APPS  # noqa: B018  (loads DJANGO_SETTINGS_MODULE)
    if not apps.ready:
        django.setup()


@pytest.fixture(autouse=True)
def _fresh_channel_layers() -> Iterator[None]:
    """Give every test fresh channel layers, so no message leaks between tests."""
    from channels.asgi import channel_layers

    channel_layers.reset()
    yield
    channel_layers.reset()


@pytest.fixture
def make_layer() -> Iterator[Callable[..., Any]]:
    """Return a factory installing an in-memory layer with ``routing`` as the default alias.

    ``make_layer(routing, **config)`` returns the ``ChannelLayerWrapper``; the
    layer's ``receive_timeout`` defaults to 0.05 s so blocking receives end fast.
    """
    from asgiref.inmemory import ChannelLayer
    from channels.asgi import ChannelLayerWrapper, channel_layers

    def make(routing: Any = (), **config: Any) -> ChannelLayerWrapper:
        config.setdefault("receive_timeout", 0.05)
        wrapper = ChannelLayerWrapper(ChannelLayer(**config), "default", list(routing))
        channel_layers.set("default", wrapper)
        return wrapper

    yield make
    channel_layers.reset()


@pytest.fixture(autouse=True)
def _keep_test_db_connection() -> Iterator[None]:
    """Stop DB connection recycling during tests, as Django's test client does.

    The worker calls ``close_old_connections`` around every consumer, and the
    HTTP handler sends request_started/request_finished, which call it too.
    Inside a test transaction that would drop the test database connection,
    and outside one it would touch the database that pytest-django blocks.
    Tests that check the recycling reconnect the receivers themselves.
    """
    from channels.signals import consumer_finished, consumer_started
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    uid = "channels.close_old_connections"
    consumer_started.disconnect(dispatch_uid=uid)
    consumer_finished.disconnect(dispatch_uid=uid)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    consumer_started.connect(close_old_connections, dispatch_uid=uid)
    consumer_finished.connect(close_old_connections, dispatch_uid=uid)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
