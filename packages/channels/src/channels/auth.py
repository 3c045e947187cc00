"""Authentication decorators: ``message.user`` from the channel or HTTP session."""

from __future__ import annotations

import functools
from typing import Any

from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.base import SessionBase

from channels.message import Message
from channels.sessions import Consumer, channel_and_http_session, channel_session, http_session

__all__ = [
    "channel_and_http_session_user_from_http",
    "channel_session_user",
    "channel_session_user_from_http",
    "http_session_user",
    "transfer_user",
]


class _SessionRequest:
    """The little of an HttpRequest that ``django.contrib.auth.get_user`` reads."""

    def __init__(self, session: SessionBase) -> None:
        self.session = session


def _user_from_session(session: SessionBase | None) -> Any:
    if session is None:
        return AnonymousUser()
    return auth.get_user(_SessionRequest(session))


def transfer_user(from_session: SessionBase, to_session: SessionBase) -> None:
    """Copy the logged-in user (id, backend, hash) from one session to another."""
    for key in (auth.SESSION_KEY, auth.BACKEND_SESSION_KEY, auth.HASH_SESSION_KEY):
        if key in from_session:
            to_session[key] = from_session[key]
        elif key in to_session:
            del to_session[key]


def channel_session_user(func: Consumer) -> Consumer:
    """Give the consumer ``message.user`` from the channel session (needs a reply channel)."""

    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        if not hasattr(message, "channel_session"):
            raise ValueError("Did not see a channel session to get auth from")
        message.user = _user_from_session(message.channel_session)  # type: ignore[attr-defined]
        return func(message, *args, **kwargs)

    return channel_session(inner)


def http_session_user(func: Consumer) -> Consumer:
    """Give the consumer ``message.user`` from the user's HTTP session (cookie or session_key)."""

    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        if not hasattr(message, "http_session"):
            raise ValueError("Did not see a http session to get auth from")
        message.user = _user_from_session(message.http_session)  # type: ignore[attr-defined]
        return func(message, *args, **kwargs)

    return http_session(inner)


def channel_session_user_from_http(func: Consumer) -> Consumer:
    """On connect, copy the HTTP session's user into the channel session; set ``message.user``."""

    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        if message.http_session is not None:  # type: ignore[attr-defined]
            transfer_user(message.http_session, message.channel_session)  # type: ignore[attr-defined]
        return func(message, *args, **kwargs)

    return http_session_user(channel_session(inner))


def channel_and_http_session_user_from_http(func: Consumer) -> Consumer:
    """Like channel_session_user_from_http, also keeping ``message.http_session`` available."""

    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        if message.http_session is not None:  # type: ignore[attr-defined]
            transfer_user(message.http_session, message.channel_session)  # type: ignore[attr-defined]
        return func(message, *args, **kwargs)

    return http_session_user(channel_and_http_session(inner))
