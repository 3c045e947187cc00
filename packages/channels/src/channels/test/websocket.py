"""``WSClient``: a test client that talks to consumers like a browser's WebSocket through Daphne.

It adds what Daphne would put in a message: ``path``, ``headers`` (with the
client's cookies, including the session cookie once there is a session),
and with ``ordered=True`` an increasing ``order``. ``text`` that is not a
string is sent as JSON, and ``receive()`` decodes JSON text frames unless
called with ``json=False``.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from http.cookies import SimpleCookie
from importlib import import_module
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest

from channels.asgi import DEFAULT_CHANNEL_LAYER
from channels.test.base import Client

__all__ = ["WSClient"]


def _header_bytes(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("latin-1")
    raise TypeError(f"Header {what} must be str or bytes, got {type(value).__name__} {value!r}.")


class WSClient(Client):
    """A Client with cookies, headers, a session, login and JSON frames (see the module doc)."""

    def __init__(self, alias: str = DEFAULT_CHANNEL_LAYER, ordered: bool = False) -> None:
        super().__init__(alias=alias)
        self.ordered = ordered
        self.order = 0
        self._session: SessionBase | None = None
        self._headers: dict[bytes, bytes] = {}
        self._cookies: dict[str, str] = {}

    # Headers, cookies and the session ------------------------------------------------

    def set_header(self, name: str | bytes, value: str | bytes) -> None:
        """Send the header ``name: value`` with every message (names are case-insensitive)."""
        self._headers[_header_bytes(name, "name").lower()] = _header_bytes(value, "value")

    @property
    def headers(self) -> dict[bytes, bytes]:
        """Return a copy of the extra headers (lowercase byte names to byte values)."""
        return dict(self._headers)

    def set_cookie(self, key: str, value: str) -> None:
        """Send the cookie ``key=value`` with every message."""
        self._cookies[key] = value

    def get_cookies(self) -> dict[str, str]:
        """Return the cookies sent with each message, the session cookie included."""
        cookies = dict(self._cookies)
        if self._session is not None and self._session.session_key:
            cookies[settings.SESSION_COOKIE_NAME] = self._session.session_key
        return cookies

    @property
    def cookies(self) -> dict[str, str]:
        """Return the cookies sent with each message (same as ``get_cookies()``)."""
        return self.get_cookies()

    @property
    def session(self) -> SessionBase:
        """Return the client's HTTP session, creating and saving an empty one on first use."""
        if not apps.is_installed("django.contrib.sessions"):
            raise RuntimeError(
                "WSClient.session needs 'django.contrib.sessions' in INSTALLED_APPS."
            )
        if self._session is None:
            session: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore()
            session.save()
            self._session = session
        return self._session

    def login(self, **credentials: Any) -> bool:
        """Authenticate with ``credentials`` and log the user into the session; return success."""
        from django.contrib.auth import authenticate

        user = authenticate(**credentials)
        if user is None or not getattr(user, "is_active", True):
            return False
        self._login(user)
        return True

    def force_login(self, user: Any, backend: str | None = None) -> None:
        """Log ``user`` into the session without checking credentials."""
        if backend is None:
            backend = settings.AUTHENTICATION_BACKENDS[0]
        user.backend = backend
        self._login(user, backend)

    def _login(self, user: Any, backend: str | None = None) -> None:
        from django.contrib.auth import login

        request = HttpRequest()
        request.session = self.session
        login(request, user, backend)
        request.session.save()
        self._session = request.session

    def logout(self) -> None:
        """Log the user out and forget the session."""
        from django.contrib.auth import logout

        if self._session is not None:
            request = HttpRequest()
            request.session = self._session
            logout(request)
        self._session = None

    # Messages ---------------------------------------------------------------------------

    def _header_list(self, content: dict[str, Any]) -> list[list[bytes]]:
        given = content.get("headers")
        if given is None:
            pairs = list(self._headers.items())
        elif isinstance(given, Mapping):
            pairs = [
                (_header_bytes(k, "name").lower(), _header_bytes(v, "value"))
                for k, v in given.items()
            ]
        elif isinstance(given, list | tuple):
            pairs = [
                (_header_bytes(k, "name").lower(), _header_bytes(v, "value")) for k, v in given
            ]
        else:
            raise TypeError(
                f"'headers' must be a dict or a list of [name, value] pairs, got {given!r:.80}."
            )
        cookies = self.get_cookies()
        if cookies and not any(name == b"cookie" for name, _ in pairs):
            jar = SimpleCookie()
            for key, value in cookies.items():
                jar[key] = value
            header = "; ".join(morsel.OutputString() for morsel in jar.values())
            pairs.append((b"cookie", header.encode("latin-1")))
        return [[name, value] for name, value in pairs]

    def get_content(
        self, content: dict[str, Any] | str | None = None, text: Any = None, path: str = "/"
    ) -> dict[str, Any]:
        """Return the message ``send`` would send for these arguments.

        A string in place of ``content`` is taken as the ``path``.
        """
        if isinstance(content, str):
            path = content
            content = None
        message = self._content(content)
        if self.ordered and "order" not in message:
            message["order"] = self.order
            self.order += 1
        message.setdefault("path", path)
        message["headers"] = self._header_list(message)
        if text is None:
            text = message.get("text")
        if text is not None:
            message["text"] = text if isinstance(text, str) else jsonlib.dumps(text)
        return message

    def send(
        self,
        to: str,
        content: dict[str, Any] | str | None = None,
        text: Any = None,
        path: str = "/",
    ) -> None:
        """Send a message on ``to`` with path, headers, cookies and ``text`` (JSON unless a str)."""
        self.channel_layer.send(to, self.get_content(content, text, path))

    def consume(self, channel: str, fail_on_none: bool = True, check_accept: bool = True) -> Any:
        """Run the consumer for the next message on ``channel``.

        After a ``websocket.connect``, check (unless ``check_accept`` is false)
        that the consumer accepted the connection, and fail if it did not.
        """
        result = super().consume(channel, fail_on_none=fail_on_none)
        if channel == "websocket.connect" and check_accept:
            reply = Client.receive(self)
            if reply is None or reply.get("accept") is not True:
                raise AssertionError(
                    f"The connection was not accepted: the consumer replied {reply!r} instead "
                    "of {'accept': True}. Pass check_accept=False if that is expected."
                )
        return result

    def send_and_consume(  # type: ignore[override]
        self,
        channel: str,
        content: dict[str, Any] | str | None = None,
        text: Any = None,
        path: str = "/",
        fail_on_none: bool = True,
        check_accept: bool = True,
    ) -> Any:
        """Send a message on ``channel`` (see ``send``) and run its consumer at once."""
        self.send(channel, content, text, path)
        return self.consume(channel, fail_on_none=fail_on_none, check_accept=check_accept)

    def receive(self, json: bool = True) -> Any:
        """Return the next reply: its ``text`` (JSON-decoded unless ``json=False``) or content.

        Return None if nothing was sent to this client.
        """
        content = super().receive()
        if content is None:
            return None
        text = content.get("text")
        if isinstance(text, str):
            if not json:
                return text
            try:
                return jsonlib.loads(text)
            except ValueError as exc:
                raise AssertionError(
                    f"The reply text {text!r:.120} is not JSON; use receive(json=False)."
                ) from exc
        return content
