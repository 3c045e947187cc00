"""Decorator names from Channels 0.x (``channels.decorators``), kept as aliases.

New code imports from ``channels.sessions`` and ``channels.auth``. The 0.x
``django_http_auth``/``http_django_auth`` gave ``message.user`` and
``message.session``; here they are ``http_session_user`` plus that alias.
"""

from __future__ import annotations

import functools
from typing import Any

from channels.auth import channel_session_user, http_session_user
from channels.message import Message
from channels.sessions import Consumer, channel_session, enforce_ordering, http_session

__all__ = [
    "channel_session",
    "channel_session_user",
    "django_http_auth",
    "enforce_ordering",
    "http_django_auth",
    "http_session",
    "http_session_user",
]


def django_http_auth(func: Consumer) -> Consumer:
    """Give the consumer ``message.user`` and ``message.session`` from the HTTP session (0.x)."""

    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        message.session = message.http_session  # type: ignore[attr-defined]
        return func(message, *args, **kwargs)

    return http_session_user(inner)


http_django_auth = django_http_auth
