"""Test cases with a captive in-memory channel layer, the message ``Client`` and ``apply_routes``.

How this works
--------------
Before each test, :class:`ChannelTestCaseMixin` replaces the layer of every
alias in ``test_channel_aliases`` with a fresh, empty ``asgiref.inmemory``
layer that keeps the alias' configured ``ROUTING``; after the test it puts
the previous layer back. Nothing reaches a real server and nothing leaks from
one test to the next.

:class:`Client` plays the part of Daphne: it sends messages carrying its own
``reply_channel`` and reads what consumers send back. ``consume`` runs the
consumer routed for the next message of a channel the way a worker does
(``consumer_started``/``consumer_finished`` around it, so sends buffered inside
the consumer go out when it finishes; ``DenyConnection``, ``ConsumeLater`` and
``ChannelSocketException`` handled as the worker handles them), but any other
exception propagates, so a failing consumer fails the test.

:class:`apply_routes` swaps the routing of one or more aliases for a list of
routes, as a context manager, a function decorator or a class decorator.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import secrets
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from asgiref.inmemory import ChannelLayer
from django.core.exceptions import ImproperlyConfigured
from django.test import TestCase, TransactionTestCase

from channels.asgi import DEFAULT_CHANNEL_LAYER, ChannelLayerWrapper, channel_layers
from channels.exceptions import ChannelSocketException, ConsumeLater, DenyConnection
from channels.message import Message
from channels.routing import Router
from channels.signals import consumer_finished, consumer_started

__all__ = [
    "ChannelTestCase",
    "ChannelTestCaseMixin",
    "Client",
    "TransactionChannelTestCase",
    "apply_routes",
]

T = TypeVar("T")
_CLOSE_OLD_CONNECTIONS = "channels.close_old_connections"


def next_message(
    channel: str, alias: str = DEFAULT_CHANNEL_LAYER, require: bool = False
) -> Message | None:
    """Return the next message on ``channel`` of layer ``alias`` as a Message, or None.

    With ``require=True`` a missing message raises AssertionError instead.
    A process-specific name (``prefix!suffix``) is read through its prefix.
    """
    layer = channel_layers[alias]
    receive_name = channel
    if "!" in channel and not channel.endswith("!"):
        receive_name = channel[: channel.index("!") + 1]
    name, content = layer.receive([receive_name], block=False)
    if name is None:
        if require:
            raise AssertionError(f"Expected a message on channel {channel!r}, but none was there.")
        return None
    return Message(content, name, layer)


class ChannelTestCaseMixin:
    """Swap the layers of ``test_channel_aliases`` for captive in-memory layers per test."""

    #: Aliases of CHANNEL_LAYERS replaced by an in-memory layer during each test.
    test_channel_aliases: Sequence[str] = (DEFAULT_CHANNEL_LAYER,)

    # Django 5.2 made _pre_setup a classmethod (TransactionTestCase runs the
    # first one eagerly in setUpClass); it still pairs with each _post_teardown.
    _old_layers: dict[str, ChannelLayerWrapper | None]

    @classmethod
    def _pre_setup(cls) -> None:
        """Install fresh in-memory layers, then let the TestCase set itself up."""
        aliases = cls.test_channel_aliases
        if isinstance(aliases, str):
            raise TypeError(
                f"test_channel_aliases must be a list of aliases, got the string {aliases!r}; "
                f"write [{aliases!r}]."
            )
        configs = channel_layers.configs
        cls._old_layers = {}
        for alias in aliases:
            if alias not in configs:
                raise ImproperlyConfigured(
                    f"test_channel_aliases names {alias!r}, which CHANNEL_LAYERS does not "
                    f"define (it has {sorted(configs)!r}); add it to the setting or remove it."
                )
            wrapper = ChannelLayerWrapper(
                ChannelLayer(receive_timeout=0.1), alias, configs[alias].get("ROUTING", [])
            )
            wrapper.flush()
            cls._old_layers[alias] = channel_layers.set(alias, wrapper)
        super()._pre_setup()  # type: ignore[misc]

    def _post_teardown(self) -> None:
        """Tear the TestCase down, then put the original layers back."""
        try:
            super()._post_teardown()  # type: ignore[misc]
        finally:
            for alias, old in type(self).__dict__.get("_old_layers", {}).items():
                channel_layers.set(alias, old)
            type(self)._old_layers = {}

    def get_next_message(
        self, channel: str, alias: str = DEFAULT_CHANNEL_LAYER, require: bool = False
    ) -> Message | None:
        """Return the next message on ``channel`` as a Message (None, or fail if ``require``)."""
        try:
            return next_message(channel, alias=alias, require=require)
        except AssertionError as exc:
            raise self.failureException(str(exc)) from None  # type: ignore[attr-defined]


class ChannelTestCase(ChannelTestCaseMixin, TestCase):  # type: ignore[misc]
    """A Django ``TestCase`` whose channel layers are captive in-memory layers."""


class TransactionChannelTestCase(ChannelTestCaseMixin, TransactionTestCase):  # type: ignore[misc]
    """A Django ``TransactionTestCase`` whose channel layers are captive in-memory layers."""


@contextlib.contextmanager
def _consumer_signals(message: Message) -> Iterator[None]:
    """Send consumer_started/finished around a consumer, keeping the test's DB connection.

    The worker's close_old_connections receivers would close the connection a
    test transaction runs on, so they are detached meanwhile (Django's test
    client does the same with request_started).
    """
    from django.db import close_old_connections

    detached = [
        sig
        for sig in (consumer_started, consumer_finished)
        if sig.disconnect(dispatch_uid=_CLOSE_OLD_CONNECTIONS)
    ]
    try:
        consumer_started.send(sender=Client, environ={}, message=message)
        try:
            yield
        finally:
            consumer_finished.send(sender=Client, message=message)
    finally:
        for sig in detached:
            sig.connect(close_old_connections, dispatch_uid=_CLOSE_OLD_CONNECTIONS)


class Client:
    """Send messages with a reply channel, run their consumers and read the replies."""

    def __init__(self, alias: str = DEFAULT_CHANNEL_LAYER) -> None:
        self.alias = alias
        self.reply_channel = f"test.client.{secrets.token_hex(5)}!{secrets.token_hex(4)}"

    @property
    def channel_layer(self) -> ChannelLayerWrapper:
        """Return the layer wrapper this client talks to."""
        return channel_layers[self.alias]

    def get_next_message(self, channel: str) -> Message | None:
        """Return the next message on ``channel`` as a Message, or None."""
        return next_message(channel, alias=self.alias)

    def get_consumer_by_channel(self, channel: str) -> Callable[..., Any] | None:
        """Return the consumer the routing picks for a bare message on ``channel``, or None."""
        message = Message({"text": "", "path": "/"}, channel, self.channel_layer)
        match = self.channel_layer.router.match(message)
        return match[0] if match else None

    def _content(self, content: dict[str, Any] | None) -> dict[str, Any]:
        if content is not None and not isinstance(content, dict):
            raise TypeError(
                f"Client.send() takes a dict of message content, got {type(content).__name__} "
                f"{content!r:.80}."
            )
        message = copy.deepcopy(content or {})
        message.setdefault("reply_channel", self.reply_channel)
        return message

    def send(self, to: str, content: dict[str, Any] | None = None) -> None:
        """Send ``content`` (plus this client's ``reply_channel``) on channel ``to``."""
        self.channel_layer.send(to, self._content(content))

    def consume(self, channel: str, fail_on_none: bool = True) -> Any:
        """Run the routed consumer for the next message on ``channel`` and return its result.

        Raise AssertionError if there is no message or no route (unless
        ``fail_on_none`` is false, then return None).
        """
        message = self.get_next_message(channel)
        if message is None:
            if fail_on_none:
                raise AssertionError(f"No message to consume on channel {channel!r}.")
            return None
        match = self.channel_layer.router.match(message)
        if match is None:
            if fail_on_none:
                raise AssertionError(
                    f"No route matches the message on {channel!r} ({message.content!r:.200}); "
                    "check the routing or use apply_routes()."
                )
            return None
        consumer, kwargs = match
        return _run_consumer(consumer, message, kwargs)

    def send_and_consume(
        self, channel: str, content: dict[str, Any] | None = None, fail_on_none: bool = True
    ) -> Any:
        """Send ``content`` on ``channel`` and run its consumer at once."""
        self.send(channel, content)
        return self.consume(channel, fail_on_none=fail_on_none)

    def receive(self) -> dict[str, Any] | None:
        """Return the content of the next message sent to this client's reply channel, or None."""
        message = self.get_next_message(self.reply_channel)
        return message.content if message is not None else None

    def join_group(self, group_name: str) -> None:
        """Add this client's reply channel to ``group_name``."""
        self.channel_layer.group_add(group_name, self.reply_channel)


def _run_consumer(consumer: Callable[..., Any], message: Message, kwargs: dict[str, Any]) -> Any:
    """Run ``consumer`` as the worker would, letting unexpected exceptions through."""
    with _consumer_signals(message):
        try:
            return consumer(message, **kwargs)
        except DenyConnection:
            if message.channel.name != "websocket.connect" or message.reply_channel is None:
                raise
            message.reply_channel.send({"close": True}, immediately=True)
        except ChannelSocketException as exc:
            exc.run(message)
        except ConsumeLater:
            message.channel_layer.send(message.channel.name, message.content)
    return None


class apply_routes:
    """Use ``routes`` as the routing of ``aliases`` while active.

    Works as ``with apply_routes([...]):``, as a test function decorator and
    as a test class decorator (wrapping each ``test*`` method).
    """

    def __init__(self, routes: Any, aliases: Sequence[str] = (DEFAULT_CHANNEL_LAYER,)) -> None:
        if isinstance(aliases, str):
            raise TypeError(
                f"apply_routes() takes a list of aliases, got the string {aliases!r}; "
                f"write aliases=[{aliases!r}]."
            )
        if not aliases:
            raise ValueError("apply_routes() needs at least one channel layer alias.")
        self.routes = routes
        self.aliases = list(aliases)
        self._saved: list[list[tuple[ChannelLayerWrapper, Any, Router]]] = []

    def enter(self) -> None:
        """Install the routes on every alias, remembering the old routing."""
        router = Router(self.routes)  # build once: bad routes fail before anything changes
        saved = []
        for alias in self.aliases:
            layer = channel_layers[alias]
            saved.append((layer, layer.routing, layer.router))
            layer.routing = self.routes
            layer.router = router if len(self.aliases) == 1 else Router(self.routes)
        self._saved.append(saved)

    def exit(self) -> None:
        """Put back the routing that ``enter`` replaced."""
        for layer, routing, router in self._saved.pop():
            layer.routing = routing
            layer.router = router

    def __enter__(self) -> apply_routes:
        self.enter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.exit()

    def __call__(self, test: T) -> T:
        """Decorate a test function or every ``test*`` method of a test class."""
        if isinstance(test, type):
            for name in dir(test):
                if name.startswith("test") and callable(getattr(test, name)):
                    setattr(test, name, self._wrap(getattr(test, name)))
            return test
        if not callable(test):
            raise TypeError(f"apply_routes can decorate a function or a class, not {test!r}.")
        return self._wrap(test)  # type: ignore[return-value]

    def _wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return inner
