"""``BaseConsumer``: class-based consumers that dispatch on the channel name.

A class-based consumer is instantiated once per message: the router calls
``MyConsumer(message, **kwargs)``, the constructor stores ``self.message`` and
``self.kwargs`` and calls :meth:`BaseConsumer.dispatch`, which looks the
message's channel up in ``method_mapping`` and calls that method, wrapped in
whatever decorators :meth:`BaseConsumer.get_handler` adds (channel sessions,
users). Storing things on ``self`` is therefore safe: nothing is shared
between messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from channels.message import Message
from channels.routing import RouteClass, route_class
from channels.sessions import channel_session

__all__ = ["BaseConsumer", "InvalidFrameError"]

logger = logging.getLogger(__name__)

Handler = Callable[..., Any]


class InvalidFrameError(ValueError):
    """Raise when a client sent a frame a consumer cannot use (bad JSON, unknown stream...).

    It means the peer misbehaved, not that our code failed: the generic
    consumers log it at INFO and drop the frame instead of crashing.
    """


class BaseConsumer:
    """Dispatch each message to the method that ``method_mapping`` names for its channel.

    Set ``channel_session = True`` or ``channel_session_user = True`` in the
    class body to run the handler with ``message.channel_session`` (and
    ``message.user``), as the decorators of the same names do.
    """

    #: Channel name to method name, e.g. ``{"websocket.receive": "receive"}``.
    method_mapping: ClassVar[Mapping[str, str]] = {}
    #: Give handlers ``message.channel_session``.
    channel_session: ClassVar[bool] = False
    #: Give handlers ``message.channel_session`` and ``message.user``.
    channel_session_user: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        mapping = cls.__dict__.get("method_mapping")
        if mapping is None:
            return
        if not isinstance(mapping, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in mapping.items()
        ):
            raise TypeError(
                f"{cls.__qualname__}.method_mapping must map channel names to method names "
                f"(both str), such as {{'websocket.receive': 'receive'}}; got {mapping!r:.100}."
            )

    def __init__(self, message: Message, **kwargs: Any) -> None:
        self.message = message
        self.kwargs = kwargs
        self.dispatch(message, **kwargs)

    @classmethod
    def channel_names(cls) -> set[str]:
        """Return the channels this consumer listens on (used by ``route_class``)."""
        return set(cls.method_mapping)

    @classmethod
    def as_route(cls, attrs: Mapping[str, Any] | None = None, **kwargs: Any) -> RouteClass:
        """Return ``route_class(cls, **kwargs)``; ``attrs`` makes a subclass with those attributes.

        ``Consumer.as_route(attrs={"group": "news"}, path=r"^/news/")`` routes a
        subclass of ``Consumer`` whose ``group`` is ``"news"``; the class itself
        is left unchanged.
        """
        consumer: type[BaseConsumer] = cls
        if attrs is not None:
            if not isinstance(attrs, Mapping) or not all(
                isinstance(name, str) and name.isidentifier() for name in attrs
            ):
                raise TypeError(
                    f"{cls.__qualname__}.as_route(attrs=...) takes a dict of attribute names "
                    f"to values, such as {{'group': 'news'}}; got {attrs!r:.100}."
                )
            namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
            namespace.update(attrs)
            consumer = type(cls.__name__, (cls,), namespace)
        return route_class(consumer, **kwargs)

    def method_for(self, message: Message) -> Handler:
        """Return the bound method ``method_mapping`` names for the message's channel."""
        channel = message.channel.name
        try:
            name = self.method_mapping[channel]
        except KeyError:
            raise ValueError(
                f"{type(self).__qualname__} got a message on {channel!r}, which is not in its "
                f"method_mapping {sorted(self.method_mapping)!r}; route it with route_class() "
                "or add the channel to method_mapping."
            ) from None
        method = getattr(self, name, None)
        if not callable(method):
            raise TypeError(
                f"{type(self).__qualname__}.method_mapping maps {channel!r} to {name!r}, but "
                f"{type(self).__qualname__} has no method of that name."
            )
        return method  # type: ignore[no-any-return]

    def get_handler(self, message: Message, **kwargs: Any) -> Handler:
        """Return the callable to run for ``message``: the mapped method, decorated.

        Override this to add decorators of your own around ``super().get_handler()``.
        """
        # channels.auth imports django.contrib.auth's models: import it late, so that
        # consumers and bindings can be defined in a models module.
        from channels.auth import channel_session_user

        handler = self.method_for(message)
        if self.channel_session_user:
            return channel_session_user(handler)
        if self.channel_session:
            return channel_session(handler)
        return handler

    def dispatch(self, message: Message, **kwargs: Any) -> Any:
        """Run the handler for ``message`` with the routing's keyword arguments."""
        return self.get_handler(message, **kwargs)(message, **kwargs)
