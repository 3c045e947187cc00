"""Exceptions that consumers raise to steer the worker, and the HTTP bridge's errors."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from channels.message import Message

__all__ = [
    "ChannelSocketException",
    "ConsumeLater",
    "DenyConnection",
    "RequestAborted",
    "RequestTimeout",
    "ResponseLater",
    "WebsocketCloseException",
]

logger = logging.getLogger(__name__)


class ConsumeLater(Exception):
    """Put the current message back at the end of its channel to be consumed again later.

    The worker re-queues a message at most ``message_retries`` times (10 by
    default) and then drops it with a warning, so two consumers waiting on each
    other cannot deadlock the worker.
    """


class ResponseLater(Exception):
    """Tell the HTTP handler that a view will answer the request later (long-poll).

    The handler sends nothing back; some other consumer replies on the
    request's reply channel when it is ready.
    """


class RequestTimeout(Exception):
    """Raise when the body chunks of an HTTP request did not arrive in time."""


class RequestAborted(Exception):
    """Raise when the client went away while its request body was being read."""


class DenyConnection(Exception):
    """Refuse a WebSocket connection; raise it from a ``websocket.connect`` consumer.

    The worker answers the connection with ``{"close": True}``. Raised from a
    consumer of any other channel it is logged as an error and ignored.
    """


class ChannelSocketException(Exception):
    """Base for exceptions that act on the client's socket when a consumer raises them.

    The worker calls :meth:`run` with the message being consumed. Subclasses
    override ``run``; the default closes the socket, which is always a safe
    answer for a WebSocket and ends an HTTP long-poll.
    """

    def run(self, message: Message) -> None:
        """Act on the reply channel of ``message``; by default close the socket."""
        if message.reply_channel is None:
            raise ValueError(
                f"{type(self).__name__} was raised while consuming a message on "
                f"{message.channel.name!r}, which has no reply_channel to act on."
            )
        message.reply_channel.send({"close": True})


class WebsocketCloseException(ChannelSocketException):
    """Close the WebSocket with an optional close ``code`` (1000 or 3000-4999).

    Works with any reply channel name, including Daphne's
    ``daphne.response.<prefix>!<client>`` channels: what is checked is the
    channel the message arrived on, which must be one of ``websocket.*``.
    """

    def __init__(self, code: int | None = None) -> None:
        if code is not None and (
            isinstance(code, bool) or not isinstance(code, int) or not _valid_close_code(code)
        ):
            raise ValueError(
                f"WebsocketCloseException code is {code!r}; use None, 1000, or an "
                "application code between 3000 and 4999."
            )
        super().__init__(code)
        self.code = code

    def run(self, message: Message) -> None:
        """Send the close frame (with the code, if any) to the message's reply channel."""
        if not message.channel.name.startswith("websocket."):
            raise ValueError(
                f"WebsocketCloseException was raised while consuming a message on "
                f"{message.channel.name!r}; it only works for websocket.* channels."
            )
        if message.reply_channel is None:
            raise ValueError(
                "WebsocketCloseException was raised for a message with no reply_channel."
            )
        close: bool | int = self.code if self.code is not None else True
        message.reply_channel.send({"close": close})


def _valid_close_code(code: int) -> bool:
    return code == 1000 or 3000 <= code <= 4999
