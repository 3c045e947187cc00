"""Share the state every connection of one Daphne process needs.

One ``ServerContext`` per server: the channel layer, the options, the clock
(the reactor, or a ``Clock`` in tests), the process-specific reply prefix
``daphne.response.<10 letters>!`` and the table from each connection's reply
channel to the object that handles replies on it. The reply reader calls
``dispatch`` for every message it receives; a reply for a channel nobody owns
any more (the client left) is dropped. Messages for the layer go through
``send``, which batches them per reactor turn (see ``daphne.batching``).
"""

from __future__ import annotations

import logging
import random
import string
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from daphne.batching import OnError, OnSent, PendingSend, SendBatcher
from daphne.deadlines import Clock, DeadlineQueue, DelayedCall
from daphne.options import ServerOptions

__all__ = [
    "ActionLogger",
    "Clock",
    "DelayedCall",
    "ReplyHandler",
    "ServerContext",
    "new_reply_prefix",
]

logger = logging.getLogger(__name__)

ActionLogger = Callable[[str, str, Mapping[str, Any]], None]
_LETTERS = string.ascii_letters


class ReplyHandler(Protocol):
    """Anything that owns a reply channel: an HTTP request or a WebSocket."""

    def handle_reply(self, message: dict[str, Any]) -> None:
        """Act on one message the application sent to this connection."""


class Closable(Protocol):
    """A live connection the server may have to close when it shuts down."""

    def shutdown(self) -> None:
        """Close this connection as part of a graceful shutdown."""

    def is_busy(self) -> bool:
        """Return True while work is in flight that a shutdown should wait for."""


def new_reply_prefix() -> str:
    """Return a fresh process-specific reply prefix such as ``daphne.response.AbCdEfGhIj!``."""
    return "daphne.response." + "".join(random.choices(_LETTERS, k=10)) + "!"


class ServerContext:
    """The layer, options, clock and reply-channel table of one server."""

    def __init__(
        self,
        channel_layer: Any,
        options: ServerOptions,
        clock: Clock,
        action_logger: ActionLogger | None = None,
        reply_prefix: str | None = None,
    ) -> None:
        self.channel_layer = channel_layer
        self.options = options
        self.clock = clock
        self.action_logger = action_logger
        self.reply_prefix = reply_prefix or new_reply_prefix()
        self.handlers: dict[str, ReplyHandler] = {}
        self.connections: set[Closable] = set()
        self.accepting = True
        self.response_deadlines = DeadlineQueue(clock, options.http_timeout)
        self.head_deadlines = DeadlineQueue(clock, options.request_head_timeout)
        self.idle_deadlines: DeadlineQueue | None = None
        if options.http_idle_timeout is not None:
            self.idle_deadlines = DeadlineQueue(clock, options.http_idle_timeout)
        # On Twisted's asyncio reactor, batches are awaited there instead of blocking it.
        self.sends = SendBatcher(channel_layer, clock, getattr(clock, "_asyncioEventloop", None))
        self.channel_full: type[BaseException] = getattr(channel_layer, "ChannelFull", _NeverRaised)
        self.message_too_large: type[BaseException] = getattr(
            channel_layer, "MessageTooLarge", _NeverRaised
        )

    def register(self, handler: ReplyHandler) -> str:
        """Give ``handler`` a new reply channel under this process's prefix and return it."""
        while True:
            # 64 random bits in hex: as unlikely to repeat as 12 letters, and ten times cheaper.
            channel = f"{self.reply_prefix}{random.getrandbits(64):016x}"
            if channel not in self.handlers:
                self.handlers[channel] = handler
                return channel

    def forget(self, channel: str | None) -> None:
        """Stop routing replies for ``channel`` (its connection is done)."""
        if channel is not None:
            self.handlers.pop(channel, None)

    def dispatch(self, channel: str, message: dict[str, Any]) -> None:
        """Hand one reply to the connection that owns ``channel``; drop it if none does."""
        handler = self.handlers.get(channel)
        if handler is None:
            logger.debug("Dropping reply for %s: no such connection any more", channel)
            return
        try:
            handler.handle_reply(message)
        except Exception:
            logger.exception("Error handling a reply on %s", channel)

    def send(
        self,
        channel: str,
        message: dict[str, Any],
        on_sent: OnSent | None = None,
        on_error: OnError | None = None,
    ) -> PendingSend:
        """Queue ``message`` for ``channel``; it goes to the layer with this turn's batch.

        ``on_sent()`` or ``on_error(exc)`` runs on the reactor thread once the
        batch went out; ``exc`` is what the layer's ``send`` would have raised
        (``ChannelFull``, ``MessageTooLarge``, a connection error ...).
        """
        return self.sends.send(channel, message, on_sent, on_error)

    def log_action(self, protocol: str, action: str, details: Mapping[str, Any]) -> None:
        """Report a server event to the action logger, never letting it break a connection."""
        if self.action_logger is None:
            return
        try:
            self.action_logger(protocol, action, details)
        except Exception:
            logger.exception("The action logger failed on %s %s", protocol, action)


class _NeverRaised(Exception):
    """Stand-in for an exception class a layer does not define."""
