"""Routing: which consumer handles a message, by channel name and regex filters.

How this works
--------------
A routing is a list of routing objects. Each has ``channel_names()`` (the set
of channels it can match, so the worker knows what to listen on) and
``match(message)``, which returns ``(consumer, kwargs)`` or None. The
:class:`Router` walks the list in order and the first match wins; the default
routes (``http.request`` to Django's views, ``websocket.connect`` accepted,
``websocket.receive``/``websocket.disconnect`` ignored) come after the user's,
so they only catch what nothing else matched.

Filters are keyword arguments naming a message key and a regular expression,
matched at the start of the value (``re.match``); all must match. Named groups
become keyword arguments for the consumer. ``include`` strips the part its
filters matched before the routes inside it see the message, so
``include(inner, path=r"^/liveblog")`` lets ``inner`` match ``^/stream/``. The
consumer itself always gets the original, unstripped message. Keyword arguments
from an inner route win over those of an enclosing include.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from channels.message import Message

__all__ = [
    "Include",
    "Route",
    "RouteClass",
    "Router",
    "connect_consumer",
    "include",
    "null_consumer",
    "route",
    "route_class",
]

logger = logging.getLogger(__name__)

Match = tuple[Callable[..., Any], dict[str, Any]]
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9_.\-]+([!?][A-Za-z0-9_.\-]*)?\Z")


def _import_consumer(path: str) -> Any:
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"Cannot import the consumer {path!r} named in the channel routing: {exc}"
        ) from exc


def _channel_list(channels: object) -> list[str]:
    names = [channels] if isinstance(channels, str) else channels
    if not isinstance(names, Iterable):
        raise TypeError(
            f"A route needs a channel name or a list of them, got {channels!r} "
            f"({type(channels).__name__})."
        )
    result = []
    for name in names:
        if not isinstance(name, str) or len(name) >= 200 or not _CHANNEL_NAME.match(name):
            raise TypeError(
                f"Route channel {name!r} is not a valid channel name; use ASCII letters, "
                "digits, '-', '_' and '.', such as 'websocket.connect'."
            )
        result.append(name)
    if not result:
        raise TypeError("A route needs at least one channel name.")
    return result


def _compile_filters(filters: Mapping[str, Any]) -> dict[str, re.Pattern[str]]:
    compiled = {}
    for key, value in filters.items():
        if isinstance(value, re.Pattern):
            compiled[key] = value
        elif isinstance(value, str):
            try:
                compiled[key] = re.compile(value)
            except re.error as exc:
                raise ValueError(
                    f"Routing filter {key}={value!r} is not a valid regular expression: {exc}"
                ) from exc
        else:
            raise TypeError(
                f"Routing filter {key}={value!r} must be a regular expression string such "
                f"as r'^/chat/$', got {type(value).__name__}."
            )
    return compiled


def _apply_filters(
    message: Message, filters: Mapping[str, re.Pattern[str]]
) -> tuple[dict[str, Any], dict[str, str]] | None:
    """Return (kwargs, unmatched remainders) if every filter matches ``message``, else None."""
    kwargs: dict[str, Any] = {}
    remainders: dict[str, str] = {}
    for key, pattern in filters.items():
        value = message.content.get(key)
        if value is None:
            return None
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif not isinstance(value, str):
            value = str(value)
        found = pattern.match(value)
        if found is None:
            return None
        kwargs.update(found.groupdict())
        remainders[key] = value[found.end() :]
    return kwargs, remainders


class Route:
    """Route messages on ``channels`` that pass the filters to ``consumer``."""

    def __init__(self, channels: str | Iterable[str], consumer: Any, **kwargs: Any) -> None:
        self.channels = frozenset(_channel_list(channels))
        if isinstance(consumer, str):
            consumer = _import_consumer(consumer)
        if not callable(consumer):
            raise TypeError(
                f"The consumer for {sorted(self.channels)!r} must be callable (a function "
                f"taking the message, or a consumer class), got {consumer!r}."
            )
        self.consumer = consumer
        self.filters = _compile_filters(kwargs)

    def match(self, message: Message) -> Match | None:
        """Return ``(consumer, kwargs)`` if ``message`` matches this route, else None."""
        if message.channel.name not in self.channels:
            return None
        result = _apply_filters(message, self.filters)
        if result is None:
            return None
        return self.consumer, result[0]

    def channel_names(self) -> set[str]:
        """Return the channel names this route listens on."""
        return set(self.channels)

    def __repr__(self) -> str:
        filters = "".join(f" {k}={v.pattern!r}" for k, v in self.filters.items())
        name = getattr(self.consumer, "__qualname__", repr(self.consumer))
        return f"<{type(self).__name__} {sorted(self.channels)!r} -> {name}{filters}>"


class RouteClass(Route):
    """Route to a class-based consumer; its channels come from ``consumer.channel_names()``."""

    def __init__(self, consumer: Any, **kwargs: Any) -> None:
        if isinstance(consumer, str):
            consumer = _import_consumer(consumer)
        channel_names = getattr(consumer, "channel_names", None)
        if not callable(channel_names):
            raise TypeError(
                f"route_class() needs a class-based consumer with a channel_names() method, "
                f"such as a subclass of channels.generic.websockets.WebsocketConsumer; got "
                f"{consumer!r}. Use route() for function consumers."
            )
        super().__init__(channel_names(), consumer, **kwargs)


class Include:
    """Match a nested routing (list, dict or dotted path) behind optional prefix filters."""

    def __init__(self, routing: Any, **kwargs: Any) -> None:
        self.routing = resolve_routing(routing)
        self.filters = _compile_filters(kwargs)
        names: set[str] = set()
        for entry in self.routing:
            names |= set(entry.channel_names())
        self._channel_names = frozenset(names)

    def match(self, message: Message) -> Match | None:
        """Return the first match inside the include, after stripping what the filters matched."""
        if message.channel.name not in self._channel_names:
            return None
        result = _apply_filters(message, self.filters)
        if result is None:
            return None
        kwargs, remainders = result
        inner = message
        if remainders:
            inner = message.copy()
            inner.content.update(remainders)
        for entry in self.routing:
            found = entry.match(inner)
            if found is not None:
                consumer, inner_kwargs = found
                return consumer, {**kwargs, **inner_kwargs}
        return None

    def channel_names(self) -> set[str]:
        """Return every channel name the included routes listen on."""
        return set(self._channel_names)

    def __repr__(self) -> str:
        return f"<Include {len(self.routing)} routes>"


def _import_routing(path: str) -> Any:
    try:
        return import_string(path)
    except ImportError as attr_error:
        # Also accept a module path, using its ``channel_routing`` like the docs' examples.
        try:
            module = importlib.import_module(path)
        except ImportError:
            raise ImproperlyConfigured(
                f"Cannot import the channel routing {path!r}: {attr_error}. Give a dotted "
                "path to a list or dict, such as 'myproject.routing.channel_routing'."
            ) from attr_error
        if not hasattr(module, "channel_routing"):
            raise ImproperlyConfigured(
                f"The module {path!r} has no 'channel_routing'; point ROUTING at the list, "
                f"e.g. '{path}.channel_routing'."
            ) from attr_error
        return module.channel_routing


def resolve_routing(routing: Any) -> list[Any]:
    """Return ``routing`` (a list, a dict, or a dotted path to either) as a list of routes."""
    if isinstance(routing, str):
        routing = _import_routing(routing)
    if isinstance(routing, Mapping):
        return [Route(channel, consumer) for channel, consumer in routing.items()]
    if isinstance(routing, list | tuple):
        entries = list(routing)
        for index, entry in enumerate(entries):
            if not callable(getattr(entry, "match", None)) or not callable(
                getattr(entry, "channel_names", None)
            ):
                raise ImproperlyConfigured(
                    f"Channel routing entry {index} is {entry!r:.80}, which is not a routing "
                    "object; use route(), route_class() or include() (or anything with "
                    "match() and channel_names())."
                )
        return entries
    raise ImproperlyConfigured(
        f"Channel routing must be a list, a dict or a dotted path to one, got "
        f"{type(routing).__name__} {routing!r:.80}."
    )


def connect_consumer(message: Message, **kwargs: Any) -> None:
    """Accept a WebSocket connection (the default ``websocket.connect`` route)."""
    if message.reply_channel is not None:
        message.reply_channel.send({"accept": True})


def null_consumer(message: Message, **kwargs: Any) -> None:
    """Ignore a message (the default ``websocket.receive``/``disconnect`` routes)."""


class _DefaultHttpConsumer:
    """Serve ``http.request`` with Django's views, importing the handler on first use."""

    def __init__(self) -> None:
        self._consumer: Callable[..., Any] | None = None
        self._lock = threading.Lock()

    def __call__(self, message: Message, **kwargs: Any) -> Any:
        consumer = self._consumer
        if consumer is None:
            with self._lock:
                if self._consumer is None:
                    self._consumer = import_string("channels.handler.ViewConsumer")()
                consumer = self._consumer
        return consumer(message, **kwargs)

    def __repr__(self) -> str:
        return "channels.handler.ViewConsumer"


class Router:
    """Match messages against a routing list; ``channels`` is the set of channels it handles."""

    def __init__(self, routing: Any) -> None:
        self.root = Include(routing)
        self.default_http_consumer: Callable[..., Any] = _DefaultHttpConsumer()
        self._build_defaults()

    def _build_defaults(self) -> None:
        self.default_routes = Include(
            [
                Route("http.request", self.default_http_consumer),
                Route("websocket.connect", connect_consumer),
                Route(["websocket.receive", "websocket.disconnect"], null_consumer),
            ]
        )
        self.channels = self.root.channel_names() | self.default_routes.channel_names()

    def check_default(self, http_consumer: Callable[..., Any] | None = None) -> None:
        """Use ``http_consumer`` (e.g. a static files consumer) for unrouted ``http.request``."""
        if http_consumer is not None:
            self.default_http_consumer = http_consumer
            self._build_defaults()

    def add_route(self, routing: Any) -> None:
        """Add routes after the existing user routes (still before the defaults)."""
        self.root = Include([*self.root.routing, *resolve_routing(routing)])
        self._build_defaults()

    def match(self, message: Message) -> Match | None:
        """Return ``(consumer, kwargs)`` for the first route matching ``message``, or None."""
        return self.root.match(message) or self.default_routes.match(message)


route = Route
route_class = RouteClass
include = Include
