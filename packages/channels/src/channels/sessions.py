"""Session decorators for consumers: per-socket channel sessions and the user's HTTP session.

How this works
--------------
``channel_session`` keys a Django session on the message's reply channel: the
key is ``"chn"`` plus the first 29 hex digits of the SHA-1 of the reply channel
name, so every message of one socket, on any worker, finds the same session.
It is created on first use, saved after the consumer if it changed, and deleted
after ``websocket.disconnect`` so that finished sockets do not pile up in the
session store.

``http_session`` reads the user's existing session from the ``session_key``
query parameter or the session cookie of an HTTP request or WebSocket connect
message; it never creates one.

``enforce_ordering`` runs a socket's messages in their ``order``: a message
that arrives early is parked on a per-socket wait channel and re-queued on its
original channel each time the next expected message has been consumed. The
counter advances even when the consumer raises, so a failing consumer cannot
stall the socket; if the expected message never comes (its worker died, it
expired), the gap is skipped when a message arrives after the socket has been
waiting for ``ORDERING_TIMEOUT`` seconds (counted from the first message that
had to wait). A full wait channel closes the socket instead of raising.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Callable
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase
from django.http.cookie import parse_cookie

from channels.exceptions import ConsumeLater
from channels.message import Message

__all__ = [
    "channel_and_http_session",
    "channel_session",
    "enforce_ordering",
    "http_session",
    "session_for_reply_channel",
]

logger = logging.getLogger(__name__)

Consumer = Callable[..., Any]
SIGNED_COOKIES = "django.contrib.sessions.backends.signed_cookies"
NEXT_ORDER_KEY = "__channels_next_order"
#: When the socket started waiting for its next message (set on the first early one).
ORDER_SINCE_KEY = "__channels_waiting_since"
#: Seconds a socket waits for a missing message before enforce_ordering skips it.
ORDERING_TIMEOUT = 30.0
#: The clock used for ORDERING_TIMEOUT (wall time: sessions are shared by processes).
time_fn: Callable[[], float] = time.time


def _session_engine(setting: str = "CHANNEL_SESSION_ENGINE") -> Any:
    name = getattr(settings, setting, None) or settings.SESSION_ENGINE
    if name == SIGNED_COOKIES:
        raise ValueError(
            "Channel sessions cannot use signed-cookie sessions (only HTTP responses can "
            "write cookies); set CHANNEL_SESSION_ENGINE to a server-side engine such as "
            "'django.contrib.sessions.backends.cache'."
        )
    return import_module(name)


def session_for_reply_channel(reply_channel: str) -> SessionBase:
    """Return the (possibly new, unsaved) session belonging to ``reply_channel``."""
    digest = hashlib.sha1(reply_channel.encode("utf-8")).hexdigest()
    session_key = "chn" + digest[:29]
    store: SessionBase = _session_engine().SessionStore(session_key=session_key)
    return store


def channel_session(func: Consumer) -> Consumer:
    """Give the consumer ``message.channel_session``, a session kept per reply channel."""

    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        if getattr(message, "channel_session", None) is not None:
            return func(message, *args, **kwargs)
        if message.reply_channel is None:
            raise ValueError(
                f"@channel_session needs a message with a reply_channel; the message on "
                f"{message.channel.name!r} has none."
            )
        session = session_for_reply_channel(message.reply_channel.name)
        if not session.exists(session.session_key):
            try:
                session.save(must_create=True)
            except CreateError as exc:
                # Another worker created it at the same moment; retry with theirs.
                raise ConsumeLater() from exc
        message.channel_session = session  # type: ignore[attr-defined]
        try:
            return func(message, *args, **kwargs)
        finally:
            _finish_channel_session(message, session)

    return inner


def _finish_channel_session(message: Message, session: SessionBase) -> None:
    if message.channel.name == "websocket.disconnect":
        session.delete()
    elif session.modified and not session.is_empty():
        session.save()


def _header(message: Message, wanted: bytes) -> str | None:
    for item in message.content.get("headers") or ():
        try:
            name, value = item
        except (TypeError, ValueError):
            continue
        if isinstance(name, str):
            name = name.encode("latin-1", "replace")
        if name.lower() == wanted:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


def http_session_key(message: Message) -> str | None:
    """Return the session key of an HTTP/WebSocket connect message, from query or cookie."""
    query = message.content.get("query_string") or b""
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    keys = parse_qs(str(query)).get("session_key")
    if keys and keys[0]:
        return keys[0]
    cookie = _header(message, b"cookie")
    if cookie:
        return parse_cookie(cookie).get(settings.SESSION_COOKIE_NAME) or None
    return None


def http_session(func: Consumer) -> Consumer:
    """Give the consumer ``message.http_session``: the user's existing session, or None."""

    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        if hasattr(message, "http_session"):
            return func(message, *args, **kwargs)
        key = http_session_key(message)
        session: SessionBase | None = None
        if key is not None:
            session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
        message.http_session = session  # type: ignore[attr-defined]
        result = func(message, *args, **kwargs)
        if session is not None and session.modified:
            session.save()
        return result

    return inner


def channel_and_http_session(func: Consumer) -> Consumer:
    """Give both sessions; the HTTP session key seen at connect is kept in the channel session.

    Later messages of the socket (which carry no cookies) get their
    ``http_session`` back from that key.
    """

    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        name = settings.SESSION_COOKIE_NAME
        http = message.http_session  # type: ignore[attr-defined]
        chan = message.channel_session  # type: ignore[attr-defined]
        if http is not None and chan.get(name) != http.session_key:
            chan[name] = http.session_key
        elif http is None and chan.get(name):
            message.http_session = import_module(  # type: ignore[attr-defined]
                settings.SESSION_ENGINE
            ).SessionStore(session_key=chan[name])
        return func(message, *args, **kwargs)

    return http_session(channel_session(inner))


def _wait_channel(message: Message) -> str:
    if message.reply_channel is None:
        raise ValueError(
            f"@enforce_ordering needs a reply_channel; the message on {message.channel.name!r} "
            "has none."
        )
    digest = hashlib.sha1(message.reply_channel.name.encode("utf-8")).hexdigest()
    return f"__wait__.{digest}"


def enforce_ordering(func: Consumer | None = None, slight: bool = False) -> Any:
    """Run a socket's messages strictly in their ``order`` (see the module docstring)."""
    if slight:
        raise ValueError(
            "enforce_ordering(slight=True) is gone: the connect message is always ordered "
            "now. Remove slight=True."
        )

    def decorator(func: Consumer) -> Consumer:
        @functools.wraps(func)
        def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
            session = message.channel_session  # type: ignore[attr-defined]
            order = message.content.get("order")
            if isinstance(order, bool) or not isinstance(order, int):
                raise ValueError(
                    f"@enforce_ordering needs an integer 'order' in the message on "
                    f"{message.channel.name!r}, got {order!r}; use it on websocket.* consumers."
                )
            expected = int(session.get(NEXT_ORDER_KEY, 0))
            waiting_since = session.get(ORDER_SINCE_KEY)
            if order > expected and (
                waiting_since is None or time_fn() - float(waiting_since) < ORDERING_TIMEOUT
            ):
                _park(message, session)
                return None
            if order > expected:
                logger.warning(
                    "Messages %s-%s for %s never arrived within %.0fs; skipping them",
                    expected,
                    order - 1,
                    message.reply_channel,
                    ORDERING_TIMEOUT,
                )
            try:
                return func(message, *args, **kwargs)
            finally:
                if order >= expected:
                    session[NEXT_ORDER_KEY] = order + 1
                    session.pop(ORDER_SINCE_KEY, None)
                    session.save()
                    session.modified = False
                _requeue_waiting(message)

        return channel_session(inner)

    if func is not None:
        return decorator(func)
    return decorator


def _park(message: Message, session: SessionBase) -> None:
    """Send an early message to the socket's wait channel, or close the socket if it is full."""
    content = dict(message.content)
    content["original_channel"] = message.channel.name
    layer = message.channel_layer
    try:
        layer.send(_wait_channel(message), content)
    except layer.ChannelFull:
        logger.warning(
            "Too many out-of-order messages for %s; closing the socket", message.reply_channel
        )
        if message.reply_channel is not None:
            message.reply_channel.send({"close": True}, immediately=True)
    if ORDER_SINCE_KEY not in session:
        session[ORDER_SINCE_KEY] = time_fn()
        session.save()
    session.modified = False


def _requeue_waiting(message: Message) -> None:
    """Put every parked message of this socket back on its original channel."""
    layer = message.channel_layer
    wait_channel = _wait_channel(message)
    while True:
        channel, content = layer.receive([wait_channel], block=False)
        if channel is None:
            return
        original = content.pop("original_channel")
        try:
            layer.send(original, content)
        except layer.ChannelFull:
            logger.warning(
                "Channel %s is full; dropping an out-of-order message for %s",
                original,
                message.reply_channel,
            )
