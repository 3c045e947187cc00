"""``WebsocketConsumer`` and ``JsonWebsocketConsumer`` (see ``channels.generic.websockets``).

How this works
--------------
The three ``websocket.*`` channels map to ``raw_connect``, ``raw_receive`` and
``raw_disconnect``. Those manage the connection's groups and call the methods
you override: ``connect``, ``receive`` and ``disconnect``. Before that,
:meth:`WebsocketConsumer.get_handler` wraps the handler in the session and
user decorators the class flags ask for (``http_user``,
``http_user_and_session``, ``channel_session_user``, ``channel_session``) and,
with ``strict_ordering``, in ``enforce_ordering``.

A consumer that runs under a demultiplexer gets a ``multiplexer`` keyword
argument. Then ``send`` wraps what it sends in the stream's frame, ``connect``
does not accept (the demultiplexer already did), and ordering is left to the
demultiplexer, which orders the socket once for all its streams.
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.serializers.json import DjangoJSONEncoder

from channels.channel import Group
from channels.generic.base import BaseConsumer, Handler, InvalidFrameError
from channels.message import Message
from channels.sessions import (
    channel_and_http_session,
    channel_session,
    enforce_ordering,
    http_session,
)

if TYPE_CHECKING:
    from channels.generic._multiplex import WebsocketMultiplexer

__all__ = ["HandlerOptions", "JsonWebsocketConsumer", "WebsocketConsumer"]

logger = logging.getLogger(__name__)

CloseStatus = bool | int


@dataclass(frozen=True)
class HandlerOptions:
    """Hold the flags saying which decorators a WebSocket consumer's handlers run under."""

    channel_session: bool = False
    channel_session_user: bool = False
    http_user: bool = False
    http_user_and_session: bool = False
    strict_ordering: bool = False

    @classmethod
    def of(cls, consumer: Any) -> HandlerOptions:
        """Return the options a consumer class, instance or function asks for via attributes."""
        return cls(**{name: bool(getattr(consumer, name, False)) for name in _OPTION_NAMES})

    def __or__(self, other: HandlerOptions) -> HandlerOptions:
        return HandlerOptions(
            **{name: getattr(self, name) or getattr(other, name) for name in _OPTION_NAMES}
        )


_OPTION_NAMES = tuple(HandlerOptions.__dataclass_fields__)


def check_close_status(status: object) -> CloseStatus:
    """Return ``status`` if it is True, 1000 or 3000-4999; raise ValueError otherwise."""
    if status is True:
        return True
    if isinstance(status, int) and not isinstance(status, bool):
        if status == 1000 or 3000 <= status <= 4999:
            return status
    raise ValueError(
        f"WebSocket close status is {status!r}; use True (code 1000), 1000, or an "
        "application code between 3000 and 4999."
    )


def frame(
    text: str | None = None, bytes: builtins.bytes | None = None, close: CloseStatus = False
) -> dict[str, Any]:
    """Return a WebSocket send/close message with ``text`` or ``bytes`` and ``close``."""
    message: dict[str, Any] = {}
    if text is not None and bytes is not None:
        raise ValueError("Send either text or bytes in one WebSocket frame, not both.")
    if text is not None:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__} {text!r:.80}.")
        message["text"] = text
    elif bytes is not None:
        if not isinstance(bytes, builtins.bytes):
            raise TypeError(f"bytes must be bytes, got {type(bytes).__name__} {bytes!r:.80}.")
        message["bytes"] = bytes
    if close:
        message["close"] = check_close_status(close)
    if not message:
        raise ValueError("Nothing to send: pass text=..., bytes=... or close=True.")
    return message


class WebsocketConsumer(BaseConsumer):
    """Handle a WebSocket: groups, ``connect``/``receive``/``disconnect``, ``send``, ``close``."""

    method_mapping: ClassVar[dict[str, str]] = {
        "websocket.connect": "raw_connect",
        "websocket.receive": "raw_receive",
        "websocket.disconnect": "raw_disconnect",
    }
    #: Take the user from the HTTP session cookie at connect; ``message.user`` on every message.
    http_user: ClassVar[bool] = False
    #: Like ``http_user``, and keep ``message.http_session`` available on every message.
    http_user_and_session: ClassVar[bool] = False
    #: Run the socket's messages strictly in order (``enforce_ordering``).
    strict_ordering: ClassVar[bool] = False
    #: Groups the connection joins on connect and leaves on disconnect.
    groups: ClassVar[Iterable[str] | None] = None

    def __init__(self, message: Message, **kwargs: Any) -> None:
        self.multiplexer: WebsocketMultiplexer | None = kwargs.get("multiplexer")
        path = message.content.get("path")
        if isinstance(path, builtins.bytes):
            path = path.decode("utf-8", "replace")
        #: The URL path of the socket.
        self.path: str | None = path
        super().__init__(message, **kwargs)

    def handler_options(self) -> HandlerOptions:
        """Return the decorator flags for this consumer (a demultiplexer adds its streams')."""
        return HandlerOptions.of(self)

    def get_handler(self, message: Message, **kwargs: Any) -> Handler:
        """Return the mapped method wrapped in the session, user and ordering decorators."""
        from channels.auth import (  # late: it imports django.contrib.auth's models
            channel_and_http_session_user_from_http,
            channel_session_user,
            channel_session_user_from_http,
        )

        handler = self.method_for(message)
        options = self.handler_options()
        connect = message.channel.name == "websocket.connect"
        if options.http_user_and_session:
            if connect:
                handler = channel_and_http_session_user_from_http(handler)
            else:
                handler = channel_and_http_session(channel_session_user(handler))
        elif options.http_user:
            if connect:
                handler = channel_session_user_from_http(handler)
            else:
                # The user comes from the channel session; message.http_session is the
                # session of the message's own cookie, if it has one (else None).
                handler = http_session(channel_session_user(handler))
        elif options.channel_session_user:
            handler = channel_session_user(handler)
        elif options.channel_session:
            handler = channel_session(handler)
        # Under a demultiplexer the socket is already ordered once, for every stream.
        if options.strict_ordering and "multiplexer" not in kwargs:
            handler = enforce_ordering(handler)
        return handler

    def dispatch(self, message: Message, **kwargs: Any) -> Any:
        """Run the handler; a frame the client got wrong is logged and dropped."""
        try:
            return super().dispatch(message, **kwargs)
        except InvalidFrameError as exc:
            logger.info(
                "%s dropped a frame from %s: %s",
                type(self).__qualname__,
                message.reply_channel,
                exc,
            )
            return None

    # Groups ---------------------------------------------------------------------

    def connection_groups(self, **kwargs: Any) -> list[str]:
        """Return the groups to add the connection to on connect (default: ``groups``)."""
        groups = self.groups or []
        if isinstance(groups, str):
            raise TypeError(
                f"{type(self).__qualname__}.groups must be a list of group names such as "
                f"[{groups!r}], not the str {groups!r}."
            )
        return list(groups)

    def _groups(self, message: Message, **kwargs: Any) -> list[Group]:
        if message.reply_channel is None:
            raise ValueError(
                f"{type(self).__qualname__} got a message on {message.channel.name!r} with no "
                "reply_channel; WebSocket messages always carry one."
            )
        return [
            Group(name, channel_layer=message.channel_layer)
            for name in self.connection_groups(**kwargs)
        ]

    # Raw handlers ---------------------------------------------------------------

    def raw_connect(self, message: Message, **kwargs: Any) -> None:
        """Add the socket to its groups, then call :meth:`connect`."""
        for group in self._groups(message, **kwargs):
            group.add(message.reply_channel)  # type: ignore[arg-type]
        self.connect(message, **kwargs)

    def raw_receive(self, message: Message, **kwargs: Any) -> None:
        """Call :meth:`receive` with the frame's ``text`` or ``bytes``."""
        self.receive(text=message.get("text"), bytes=message.get("bytes"), **kwargs)

    def raw_disconnect(self, message: Message, **kwargs: Any) -> None:
        """Remove the socket from its groups (first, so it never stays), then :meth:`disconnect`."""
        for group in self._groups(message, **kwargs):
            group.discard(message.reply_channel)  # type: ignore[arg-type]
        self.disconnect(message, **kwargs)

    # Methods to override --------------------------------------------------------

    def connect(self, message: Message, **kwargs: Any) -> None:
        """Accept the connection (unless a demultiplexer already did); override to decide."""
        if self.multiplexer is None:
            self._reply_channel().send({"accept": True})

    def receive(
        self, text: str | None = None, bytes: builtins.bytes | None = None, **kwargs: Any
    ) -> None:
        """Handle a frame with ``text`` or ``bytes``; override it (the default ignores frames)."""

    def disconnect(self, message: Message, **kwargs: Any) -> None:
        """Handle the end of the connection; override it (groups are already left)."""

    # Sending --------------------------------------------------------------------

    def _reply_channel(self) -> Any:
        """Return the current message's reply channel; raise ValueError if it has none."""
        reply = self.message.reply_channel
        if reply is None:
            raise ValueError(
                f"{type(self).__qualname__} cannot send: the message on "
                f"{self.message.channel.name!r} has no reply_channel."
            )
        return reply

    def send(
        self,
        text: str | None = None,
        bytes: builtins.bytes | None = None,
        close: CloseStatus = False,
    ) -> None:
        """Send a frame to this socket (wrapped in the stream's frame under a multiplexer)."""
        if self.multiplexer is not None:
            if bytes is not None:
                raise TypeError(
                    "Binary frames cannot be multiplexed; send text (or JSON) on a stream."
                )
            if text is not None:
                # A stream's consumer gets its payload as JSON text; it answers the same way.
                try:
                    payload = json.loads(text)
                except ValueError as exc:
                    raise ValueError(
                        f"Under a multiplexer, send(text=...) takes the JSON of the payload, "
                        f"got {text!r:.80} ({exc}); use json.dumps() or JsonWebsocketConsumer."
                    ) from exc
                self.multiplexer.send(payload, close=close)
            elif close:
                self.close(close)
            else:
                raise ValueError("Nothing to send: pass text=... or close=True.")
            return
        self._reply_channel().send(frame(text, bytes, close))

    def close(self, status: CloseStatus = True) -> None:
        """Close the socket, with close code ``status`` (True means 1000)."""
        self._reply_channel().send({"close": check_close_status(status)})

    @classmethod
    def group_send(
        cls,
        name: str,
        text: str | None = None,
        bytes: builtins.bytes | None = None,
        close: CloseStatus = False,
    ) -> None:
        """Send a frame to every socket in group ``name``."""
        Group(name).send(frame(text, bytes, close))


class JsonWebsocketConsumer(WebsocketConsumer):
    """Receive and send JSON on a WebSocket: ``receive(content)``, ``send(content)``.

    Override :meth:`decode_json` / :meth:`encode_json` to use another JSON codec.
    """

    def raw_receive(self, message: Message, **kwargs: Any) -> None:
        """Decode the frame's JSON text and call :meth:`receive` with the content."""
        text = message.get("text")
        if not isinstance(text, str):
            raise InvalidFrameError(
                f"{type(self).__qualname__} expects JSON in text frames, got a "
                f"{'binary' if message.get('bytes') is not None else 'empty'} frame."
            )
        try:
            content = self.decode_json(text)
        except ValueError as exc:
            raise InvalidFrameError(f"the frame is not valid JSON ({exc}): {text!r:.80}") from exc
        self.receive(content, **kwargs)

    def receive(self, content: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
        """Handle decoded JSON ``content``; override it (the default ignores it)."""

    def send(  # type: ignore[override]
        self, content: Any, close: CloseStatus = False
    ) -> None:
        """Send ``content`` as JSON (on the stream, under a multiplexer)."""
        if self.multiplexer is not None:
            self.multiplexer.send(content, close=close)
            return
        super().send(text=self.encode_json(content), close=close)

    @classmethod
    def group_send(  # type: ignore[override]
        cls, name: str, content: Any, close: CloseStatus = False
    ) -> None:
        """Send ``content`` as JSON to every socket in group ``name``."""
        Group(name).send(frame(cls.encode_json(content), None, close))

    @classmethod
    def decode_json(cls, text: str) -> Any:
        """Return the Python data of the JSON ``text``; raise ValueError if it is not JSON."""
        return json.loads(text)

    @classmethod
    def encode_json(cls, content: Any) -> str:
        """Return ``content`` as JSON text (dates, decimals and UUIDs as Django encodes them)."""
        return json.dumps(content, cls=DjangoJSONEncoder)
