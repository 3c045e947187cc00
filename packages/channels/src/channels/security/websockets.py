"""Origin checks for WebSocket connect consumers (against cross-site WebSocket hijacking).

``@allowed_hosts_only`` (an :class:`AllowedHostsOnlyOriginValidator`) lets a
``websocket.connect`` through only if its ``Origin`` header names a host in
``ALLOWED_HOSTS`` (with Django's wildcard rules); a missing or malformed Origin
is refused. Refusal raises ``DenyConnection``, so the worker closes the socket.
Subclass :class:`BaseOriginValidator` and implement ``validate_origin`` for
other policies.
"""

from __future__ import annotations

import abc
import functools
import logging
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from channels.exceptions import DenyConnection
from channels.message import Message

__all__ = ["AllowedHostsOnlyOriginValidator", "BaseOriginValidator", "allowed_hosts_only"]

logger = logging.getLogger(__name__)


class BaseOriginValidator(abc.ABC):
    """Wrap a connect consumer and deny the connection unless ``validate_origin`` agrees."""

    def __init__(self, func: Any) -> None:
        functools.update_wrapper(self, func)
        self.func = func

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        # Used on a method of a class-based consumer: bind it like a function would be.
        if instance is None:
            return self
        return type(self)(self.func.__get__(instance, owner))

    def __call__(self, message: Message, *args: Any, **kwargs: Any) -> Any:
        """Run the consumer if the message's Origin is valid, else raise DenyConnection."""
        if "headers" not in message.content:
            raise ValueError(
                f"{type(self).__name__} can only check messages with headers (websocket.connect"
                f"); the message on {message.channel.name!r} has none."
            )
        origin = self.get_origin(message)
        if origin is None or not self.validate_origin(message, origin):
            logger.info(
                "Refused a WebSocket connection to %r from origin %r",
                message.content.get("path"),
                origin,
            )
            raise DenyConnection()
        return self.func(message, *args, **kwargs)

    @staticmethod
    def get_origin(message: Message) -> str | None:
        """Return the message's Origin header as text, or None if it has none."""
        for item in message.content.get("headers") or ():
            try:
                name, value = item
            except (TypeError, ValueError):
                continue
            if isinstance(name, bytes):
                name = name.decode("latin-1")
            if str(name).lower() == "origin":
                return value.decode("latin-1") if isinstance(value, bytes) else str(value)
        return None

    @abc.abstractmethod
    def validate_origin(self, message: Message, origin: str) -> bool:
        """Return True if a connection from ``origin`` may go ahead."""


class AllowedHostsOnlyOriginValidator(BaseOriginValidator):
    """Allow only origins whose host is in ``ALLOWED_HOSTS`` (localhost too under DEBUG)."""

    def validate_origin(self, message: Message, origin: str) -> bool:
        """Return True if the origin's host matches ALLOWED_HOSTS."""
        allowed_hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not allowed_hosts:
            allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
        try:
            netloc = urlsplit(origin.strip()).netloc
        except ValueError:
            return False
        if not netloc or "@" in netloc:
            return False
        domain, _port = split_domain_port(netloc.lower())
        return bool(domain) and validate_host(domain, allowed_hosts)


allowed_hosts_only = AllowedHostsOnlyOriginValidator
