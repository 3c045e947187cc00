"""WebSocket multiplexing: many JSON streams over one socket (``channels.generic.websockets``).

How this works
--------------
Frames are JSON objects ``{"stream": name, "payload": data}``. A
:class:`WebsocketDemultiplexer` maps stream names to consumers (classes such
as a ``JsonWebsocketConsumer`` or plain callables such as a binding's
``.consumer``) and calls them in-process, in the same worker, for the same
message:

- ``websocket.connect``: the socket is accepted, then every consumer gets the
  connect message, in ``consumers`` order.
- ``websocket.receive``: the frame's payload goes to its stream's consumer as
  a message whose ``text`` is the payload's JSON.
- ``websocket.disconnect``: every consumer gets it, even if one of them
  raises, so no consumer is left with stale groups.

Each consumer gets a ``multiplexer`` keyword argument, a
:class:`WebsocketMultiplexer` for its stream, whose ``send`` wraps payloads in
stream frames. Nothing about the consumer classes is changed: the multiplexer
travels with the call. The demultiplexer applies the session, user and
ordering decorators once for the socket, asking for whatever any of its
consumers asks for (``strict_ordering`` on a stream orders the whole socket),
so ``enforce_ordering`` sees each message once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from django.core.serializers.json import DjangoJSONEncoder

from channels.channel import Group
from channels.generic._websocket import CloseStatus, HandlerOptions, JsonWebsocketConsumer, frame
from channels.generic.base import InvalidFrameError
from channels.message import Message

__all__ = ["WebsocketDemultiplexer", "WebsocketMultiplexer"]

logger = logging.getLogger(__name__)

#: Attributes a demultiplexer copies from its message to each stream's message.
_MESSAGE_ATTRIBUTES = ("channel_session", "http_session", "user", "session")


class WebsocketMultiplexer:
    """Send payloads on one stream of a multiplexed socket.

    ``stream`` is the stream name and ``demultiplexer`` the consumer that
    dispatched to this stream. Subclass it and override :meth:`encode_json`
    (or :meth:`encode`) for another encoding, then set the demultiplexer's
    ``multiplexer_class``.
    """

    def __init__(self, stream: str, demultiplexer: WebsocketDemultiplexer) -> None:
        self.stream = stream
        self.demultiplexer = demultiplexer

    @property
    def reply_channel(self) -> Any:
        """Return the socket's reply channel."""
        return self.demultiplexer._reply_channel()

    def send(self, payload: Any, close: CloseStatus = False) -> None:
        """Send ``payload`` on this stream; with ``close``, close the socket afterwards."""
        message = self.encode(self.stream, payload)
        if close:
            message.update(frame(close=close))
        self.reply_channel.send(message)

    def group_send(self, name: str, payload: Any, close: CloseStatus = False) -> None:
        """Send ``payload`` on this stream to every socket in group ``name``."""
        message = self.encode(self.stream, payload)
        if close:
            message.update(frame(close=close))
        Group(name, channel_layer=self.demultiplexer.message.channel_layer).send(message)

    @classmethod
    def encode(cls, stream: str, payload: Any) -> dict[str, Any]:
        """Return the WebSocket message carrying ``payload`` on ``stream``."""
        if not isinstance(stream, str) or not stream:
            raise TypeError(f"A stream name must be a non-empty str, got {stream!r}.")
        return {"text": cls.encode_json({"stream": stream, "payload": payload})}

    @classmethod
    def encode_json(cls, content: Any) -> str:
        """Return ``content`` as JSON text."""
        return json.dumps(content, cls=DjangoJSONEncoder)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} stream={self.stream!r}>"


class WebsocketDemultiplexer(JsonWebsocketConsumer):
    """Route ``{"stream", "payload"}`` frames to the consumer of each stream.

    ``consumers`` maps stream names to consumers; ``multiplexer_class`` is the
    :class:`WebsocketMultiplexer` they get to send with. ``connection_groups``
    (or ``groups``) still apply, to the socket as a whole.
    """

    consumers: ClassVar[Mapping[str, Callable[..., Any]]] = {}
    multiplexer_class: ClassVar[type[WebsocketMultiplexer]] = WebsocketMultiplexer

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        consumers = cls.__dict__.get("consumers")
        if consumers is not None:
            _check_consumers(cls.__qualname__, consumers)
        multiplexer_class = cls.__dict__.get("multiplexer_class")
        if multiplexer_class is not None and not (
            isinstance(multiplexer_class, type)
            and issubclass(multiplexer_class, WebsocketMultiplexer)
        ):
            raise TypeError(
                f"{cls.__qualname__}.multiplexer_class must be a subclass of "
                f"WebsocketMultiplexer, got {multiplexer_class!r}."
            )

    @classmethod
    def encode(cls, stream: str, payload: Any) -> dict[str, Any]:
        """Return the WebSocket message carrying ``payload`` on ``stream`` (for Group sends)."""
        return cls.multiplexer_class.encode(stream, payload)

    def handler_options(self) -> HandlerOptions:
        """Return the decorator flags of this class combined with those of every stream."""
        options = HandlerOptions.of(self)
        for consumer in self.consumers.values():
            options |= HandlerOptions.of(consumer)
        return options

    def get_multiplexer(self, stream: str) -> WebsocketMultiplexer:
        """Return the multiplexer a stream's consumer sends with."""
        return self.multiplexer_class(stream, self)

    def stream_message(self, message: Message, text: str | None = None) -> Message:
        """Return the message a stream's consumer gets: a copy, with ``text`` if given.

        The session and user attributes the decorators put on ``message`` are
        shared, so the streams use the socket's one channel session.
        """
        content = dict(message.content)
        if text is not None:
            content["text"] = text
            content.pop("bytes", None)
        copy = type(message)(content, message.channel.name, message.channel_layer)
        for name in _MESSAGE_ATTRIBUTES:
            if hasattr(message, name):
                setattr(copy, name, getattr(message, name))
        return copy

    def call_stream(
        self, stream: str, consumer: Callable[..., Any], message: Message, kwargs: dict[str, Any]
    ) -> None:
        """Run one stream's consumer for ``message``."""
        consumer(message, **{**kwargs, "multiplexer": self.get_multiplexer(stream)})

    def connect(self, message: Message, **kwargs: Any) -> None:
        """Accept the socket, then pass the connect to every stream's consumer."""
        if self.multiplexer is None:
            self._reply_channel().send({"accept": True})
        for stream, consumer in self.consumers.items():
            self.call_stream(stream, consumer, self.stream_message(message), kwargs)

    def receive(self, content: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
        """Pass the frame's payload to the consumer of its stream."""
        if not isinstance(content, dict) or "stream" not in content or "payload" not in content:
            raise InvalidFrameError(
                f'a multiplexed frame is a JSON object {{"stream": ..., "payload": ...}}, '
                f"got {content!r:.80}"
            )
        stream = content["stream"]
        consumer = self.consumers.get(stream) if isinstance(stream, str) else None
        if consumer is None:
            raise InvalidFrameError(
                f"no consumer for stream {stream!r:.60}; this socket has streams "
                f"{sorted(self.consumers)!r}"
            )
        text = self.encode_json(content["payload"])
        self.call_stream(stream, consumer, self.stream_message(self.message, text), kwargs)

    def disconnect(self, message: Message, **kwargs: Any) -> None:
        """Pass the disconnect to every stream's consumer, even when one of them fails."""
        for stream, consumer in self.consumers.items():
            try:
                self.call_stream(stream, consumer, self.stream_message(message), kwargs)
            except Exception:
                logger.exception(
                    "The consumer of stream %r failed on disconnect; the other streams still "
                    "get it",
                    stream,
                )


def _check_consumers(owner: str, consumers: object) -> None:
    if not isinstance(consumers, Mapping):
        raise TypeError(
            f"{owner}.consumers must be a dict of stream names to consumers, such as "
            f"{{'echo': EchoConsumer}}; got {type(consumers).__name__} {consumers!r:.80}."
        )
    for stream, consumer in consumers.items():
        if not isinstance(stream, str) or not stream:
            raise TypeError(
                f"{owner}.consumers has the stream name {stream!r}; use a non-empty str."
            )
        if not callable(consumer):
            raise TypeError(
                f"{owner}.consumers[{stream!r}] is {consumer!r:.80}, which is not a consumer; "
                "use a consumer class or a function taking the message."
            )
