# mypy: disable-error-code="no-untyped-call"
# (Twisted's web and Autobahn APIs are partly unannotated; calls into them are untyped.)
"""Carry WebSocket connections to and from the channel layer (Autobahn underneath).

How this works
--------------
An HTTP/1.1 request asking for ``Upgrade: websocket`` is parsed by Twisted
first; ``WebSocketFactory.upgrade`` then builds a ``WebSocketProtocol``, moves
the socket over to it and replays the request head into Autobahn, which checks
the handshake. States:

HANDSHAKING  ``onConnect`` queues ``websocket.connect`` (order 0) and returns a
             Deferred, so the handshake is *held* until the application
             answers: ``accept: true`` or non-empty text/bytes -> 101 (data is
             sent once open, ``close`` with data closes right after);
             ``accept: false`` or ``close`` without data -> 403. No answer in
             ``websocket_connect_timeout`` -> 403. ``ChannelFull`` on connect
             -> 503, and no disconnect is ever sent (the app never saw it).
OPEN         Each frame becomes ``websocket.receive`` with order 1, 2, ... .
             Frames wait in an outbox and go to the layer one at a time (one
             per batch, see ``daphne.batching``), so a failed frame is retried
             before any later one. Reading pauses while the outbox is long.
             On ``ChannelFull`` (or an unreachable layer) the frame stays
             first in the outbox, reading from the socket is paused (TCP
             back-pressure on the client) and sending is retried with
             back-off; only after ``websocket_backpressure_timeout``
             seconds of no progress is the socket closed with 1013. Replies
             send frames and/or close with the given code. Autobahn answers
             pings, sends keepalive pings and closes 1009 on oversize messages.
             ``websocket_timeout`` bounds the connection's lifetime.
CLOSING      Daphne sent a close frame (app's close, lifetime, 1013, 1009):
             reading resumes so the peer's reply gets through, but no further
             frames are forwarded.
CLOSED       ``websocket.disconnect`` goes out exactly once, with the close
             code (1006 when the peer vanished) and the order after the last
             frame the app received. It waits for the frame in flight; frames
             read before the close still go first unless the layer was
             refusing them (then they are dropped). A socket gone before its
             ``websocket.connect`` left the batch sends nothing at all.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, cast

from autobahn.exception import Disconnected
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.defer import Deferred
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

from daphne.batching import PendingSend
from daphne.context import DelayedCall, ServerContext
from daphne.http_protocol import AsgiHTTPChannel, AsgiRequest
from daphne.request_info import RequestInfo

__all__ = ["WebSocketFactory", "WebSocketProtocol"]

logger = logging.getLogger(__name__)

_RETRY_FIRST = 0.005
_RETRY_MAX = 0.5
#: Frames waiting behind the one in flight before reading from the socket pauses.
_OUTBOX_PAUSE = 16
_SENDABLE_CODES = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}

HANDSHAKING, OPEN, CLOSING, CLOSED = "handshaking", "open", "closing", "closed"


class WebSocketProtocol(WebSocketServerProtocol):
    """One WebSocket connection, bridged to the layer."""

    factory: WebSocketFactory

    def __init__(self) -> None:
        super().__init__()
        self.info: RequestInfo | None = None
        self.reply_channel: str | None = None
        self.asgi_state = HANDSHAKING
        self.order = 0
        self.sent_order = 0
        self.connect_sent = False
        self.connect_send: PendingSend | None = None
        self.disconnect_done = False
        self.disconnect_queued = False
        self.close_code = 1006
        self.accept_deferred: Deferred[Any] | None = None
        self.accepted = False
        self.offered_protocols: list[str] = []
        self.pending_frames: list[dict[str, Any]] = []
        self.close_after_open: int | None = None
        self.outbox: deque[dict[str, Any]] = deque()
        self.in_flight: dict[str, Any] | None = None
        self.retry_delay = _RETRY_FIRST
        self.blocked_since: float | None = None
        self.retry_call: DelayedCall | None = None
        self.connect_timer: DelayedCall | None = None
        self.lifetime_timer: DelayedCall | None = None
        self.paused = False

    @property
    def context(self) -> ServerContext:
        """Return the server context shared by all connections."""
        return self.factory.context

    def _details(self) -> dict[str, Any]:
        client = self.info.client if self.info else None
        return {
            "path": self.info.path if self.info else "",
            "client": f"{client[0]}:{client[1]}" if client else "",
            "reply_channel": self.reply_channel,
        }

    # Handshake ----------------------------------------------------------------

    def onConnect(self, request: ConnectionRequest) -> Deferred[Any]:  # type: ignore[override]
        """Send websocket.connect and hold the handshake until the app answers."""
        info = self.info
        if info is None:
            raise ConnectionDeny(400, "WebSocket request arrived without HTTP parsing")
        context = self.context
        if not context.accepting:
            raise ConnectionDeny(503, "Server is shutting down")
        if not context.options.allows_origin(request.origin):
            logger.info("Refusing WebSocket %s from origin %r", info.path, request.origin)
            raise ConnectionDeny(403, "Origin not allowed")
        self.reply_channel = context.register(self)
        self.context.connections.add(self)
        scheme = "wss" if info.scheme == "https" else "ws"
        message = {
            "reply_channel": self.reply_channel,
            "scheme": scheme,
            "path": info.path,
            "query_string": info.query_string,
            "root_path": info.root_path.encode("utf-8"),
            "headers": info.headers,
            "client": info.client,
            "server": info.server,
            "order": 0,
        }
        self.offered_protocols = [str(p) for p in request.protocols or ()]
        self.accept_deferred = Deferred()
        self.connect_send = context.send(
            "websocket.connect", message, self._connect_sent, self._connect_failed
        )
        self.connect_timer = context.clock.callLater(
            context.options.websocket_connect_timeout, self._connect_timed_out
        )
        return self.accept_deferred

    def _connect_sent(self) -> None:
        self.connect_send = None
        self.connect_sent = True
        if self.asgi_state == CLOSED:
            # The peer left while the batch went out: the app saw the connect,
            # so it gets its disconnect.
            self._send_disconnect()
            return
        self.context.log_action("websocket", "connecting", self._details())

    def _connect_failed(self, exc: BaseException) -> None:
        self.connect_send = None
        path = self.info.path if self.info else ""
        self.context.forget(self.reply_channel)
        if isinstance(exc, self.context.channel_full):
            logger.warning("websocket.connect is full; refusing %s with 503", path)
            deny = ConnectionDeny(503, "Server is busy")
        else:
            logger.warning("Channel layer unavailable; refusing %s with 503: %r", path, exc)
            deny = ConnectionDeny(503, "Channel layer unavailable")
        deny.__cause__ = exc
        if self.accept_deferred is None:
            return
        deferred, self.accept_deferred = self.accept_deferred, None
        self._cancel(self.connect_timer)
        deferred.errback(deny)

    def _choose_subprotocol(self) -> str | None:
        wanted = self.context.options.ws_protocols
        for offered in self.offered_protocols:
            if offered in wanted:
                return str(offered)
        return None

    def _connect_timed_out(self) -> None:
        self.connect_timer = None
        logger.info("No answer to websocket.connect for %s in time; rejecting", self._details())
        self._reject()

    def _reject(self, status: int = 403) -> None:
        if self.accept_deferred is None:
            return
        deferred, self.accept_deferred = self.accept_deferred, None
        self._cancel(self.connect_timer)
        self.context.log_action("websocket", "rejected", self._details())
        deferred.errback(ConnectionDeny(status, "Access denied"))

    def _accept(self) -> None:
        if self.accept_deferred is None:
            return
        self.accepted = True
        deferred, self.accept_deferred = self.accept_deferred, None
        self._cancel(self.connect_timer)
        deferred.callback(self._choose_subprotocol())

    def onOpen(self) -> None:
        """Start the lifetime timer and flush frames the app sent with its accept."""
        self.asgi_state = OPEN
        self.context.log_action("websocket", "connected", self._details())
        lifetime = self.context.options.websocket_timeout
        if lifetime is not None:
            self.lifetime_timer = self.context.clock.callLater(lifetime, self._lifetime_over)
        frames, self.pending_frames = self.pending_frames, []
        for frame in frames:
            self._send_frame(frame)
        if self.close_after_open is not None:
            self._close(self.close_after_open)

    # Replies ------------------------------------------------------------------

    def handle_reply(self, message: dict[str, Any]) -> None:
        """Apply a Send/Close/Accept message from the application."""
        text, data = message.get("text"), message.get("bytes")
        if text is not None and data is not None:
            logger.warning("Ignoring a reply with both text and bytes on %s", self.reply_channel)
            return
        frame: dict[str, Any] | None = None
        if text is not None or data is not None:
            frame = {"text": text} if text is not None else {"bytes": data}
        close = message.get("close", False)
        close_code = _close_code(close)
        if self.asgi_state == HANDSHAKING:
            if self.accept_deferred is None:
                if self.accepted:
                    # Accepted, but Autobahn has not opened the socket yet: keep order.
                    if frame is not None:
                        self.pending_frames.append(frame)
                    if close_code is not None:
                        self.close_after_open = close_code
                return
            has_data = bool(text) or bool(data)
            if message.get("accept") is False:
                self._reject()
            elif has_data:
                self.pending_frames.append(frame or {})
                self.close_after_open = close_code
                self._accept()
            elif close_code is not None:
                self._reject()
            elif message.get("accept"):
                self._accept()
            return
        if self.asgi_state == OPEN:
            if frame is not None:
                self._send_frame(frame)
            if close_code is not None:
                self._close(close_code)

    def _send_frame(self, frame: dict[str, Any]) -> None:
        if "text" in frame:
            text = frame["text"]
            payload = text.encode("utf-8") if isinstance(text, str) else bytes(text)
            binary = False
        else:
            payload, binary = bytes(frame["bytes"]), True
        try:
            self.sendMessage(payload, isBinary=binary)
        except Disconnected:
            # The client started closing (or the connection failed) and Autobahn's
            # onClose has not reached us yet: the reply has nobody to go to.
            logger.debug(
                "WebSocket %s closed before a reply could be sent; dropping it",
                self.reply_channel,
            )

    def _close(self, code: int) -> None:
        # Frames that still arrive before the peer's close reply are not forwarded.
        self.asgi_state = CLOSING
        self.outbox.clear()
        if self.paused:
            # Read again so the peer's close reply gets through.
            self.paused = False
            reader = _reading_transport(self.transport)
            if reader is not None:
                reader.resumeProducing()
        if code == 1000 or 3000 <= code <= 4999:
            self.sendClose(code)
        elif code in _SENDABLE_CODES:
            self.sendCloseFrame(code, isReply=False)
        else:
            logger.warning("Close code %s is not allowed; closing with 1000", code)
            self.sendClose(1000)

    def _lifetime_over(self) -> None:
        self.lifetime_timer = None
        logger.info("WebSocket %s reached its maximum lifetime; closing", self.reply_channel)
        self._close(1000)

    def shutdown(self) -> None:
        """Close with 1001 (going away) because the server is stopping."""
        if self.asgi_state == OPEN:
            self._close(1001)
        elif self.asgi_state == HANDSHAKING:
            self._reject(503)

    def is_busy(self) -> bool:
        """Return True until the socket has closed."""
        return self.asgi_state != CLOSED

    # Incoming frames ----------------------------------------------------------

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        """Queue a websocket.receive for the frame and push the queue to the layer."""
        if self.asgi_state != OPEN or self.reply_channel is None or self.info is None:
            return
        self.order += 1
        message: dict[str, Any] = {
            "reply_channel": self.reply_channel,
            "path": self.info.path,
            "order": self.order,
            "bytes": payload if isBinary else None,
            "text": None if isBinary else payload.decode("utf-8"),
        }
        self.outbox.append(message)
        if self.in_flight is None and self.retry_call is None:
            self._flush_outbox()
        elif len(self.outbox) >= _OUTBOX_PAUSE:
            self._pause_reading()

    def _flush_outbox(self) -> None:
        """Hand the first waiting frame to the layer; once all are out, resume or finish."""
        self.retry_call = None
        if self.in_flight is not None:
            return
        if self.outbox and self.asgi_state in (OPEN, CLOSED):
            self.in_flight = self.outbox.popleft()
            self.context.send(
                "websocket.receive", self.in_flight, self._frame_sent, self._frame_failed
            )
            return
        if self.asgi_state == CLOSED:
            self._send_disconnect()
        elif self.paused and self.asgi_state == OPEN:
            self.paused = False
            reader = _reading_transport(self.transport)
            if reader is not None:
                reader.resumeProducing()

    def _frame_sent(self) -> None:
        frame, self.in_flight = self.in_flight, None
        if frame is not None:
            self.sent_order = frame["order"]
        self.blocked_since = None
        self.retry_delay = _RETRY_FIRST
        self._flush_outbox()

    def _frame_failed(self, exc: BaseException) -> None:
        frame, self.in_flight = self.in_flight, None
        if self.asgi_state == CLOSED:
            # The socket is gone: no point holding frames back; finish now.
            logger.debug("Dropping frames for closed %s: %r", self.reply_channel, exc)
            self.outbox.clear()
            self._send_disconnect()
            return
        if self.asgi_state != OPEN or frame is None:
            return  # closing: frames are no longer forwarded
        if isinstance(exc, self.context.message_too_large):
            logger.warning("Frame on %s too large for the layer; closing 1009", self.reply_channel)
            self._close(1009)
            return
        if not isinstance(exc, self.context.channel_full):
            # An unreachable layer is treated like a full one: hold the frames,
            # stop reading, retry with back-off, and close 1013 only if it lasts.
            logger.warning("Channel layer unavailable for %s: %r", self.reply_channel, exc)
        self.outbox.appendleft(frame)
        self._back_off()

    def _pause_reading(self) -> None:
        if not self.paused:
            self.paused = True
            reader = _reading_transport(self.transport)
            if reader is not None:
                reader.pauseProducing()

    def _back_off(self) -> None:
        now = self.context.clock.seconds()
        if self.blocked_since is None:
            self.blocked_since = now
            logger.warning("websocket.receive is full; pausing reads from %s", self.reply_channel)
        self._pause_reading()
        if now - self.blocked_since >= self.context.options.websocket_backpressure_timeout:
            logger.warning(
                "websocket.receive stayed full; closing %s with 1013", self.reply_channel
            )
            self._close(1013)
            return
        self.retry_call = self.context.clock.callLater(self.retry_delay, self._flush_outbox)
        self.retry_delay = min(_RETRY_MAX, self.retry_delay * 2)

    # Closing ------------------------------------------------------------------

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        """Send websocket.disconnect once and release the reply channel."""
        self._finish(code)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Make sure the disconnect happens even if Autobahn skipped onClose."""
        super().connectionLost(reason)
        self._finish(None)

    def _finish(self, code: int | None) -> None:
        if self.disconnect_done:
            return
        self.disconnect_done = True
        was_open = self.asgi_state in (OPEN, CLOSING)
        self.asgi_state = CLOSED
        self.close_code = code if code is not None else 1006
        self.context.connections.discard(self)
        for call in (self.connect_timer, self.lifetime_timer, self.retry_call):
            self._cancel(call)
        self.retry_call = None
        if self.blocked_since is not None:
            # The layer was refusing frames: the ones still waiting are dropped.
            self.outbox.clear()
        if self.accept_deferred is not None:
            # The client left while we were waiting for the app's answer.
            self.accept_deferred = None
        self.context.forget(self.reply_channel)
        if self.connect_send is not None and self.connect_send.cancel():
            # Gone within the turn it arrived: the app never hears of this socket.
            self.connect_send = None
            return
        if was_open:
            self.context.log_action("websocket", "disconnected", self._details())
        # Frames read before the close still go first; the disconnect follows them.
        self._flush_outbox()

    def _send_disconnect(self) -> None:
        """Queue websocket.disconnect once the connect and every frame are settled."""
        if (
            self.disconnect_queued
            or not self.connect_sent
            or self.in_flight is not None
            or self.outbox
            or self.reply_channel is None
            or self.info is None
        ):
            return
        self.disconnect_queued = True
        self.context.send(
            "websocket.disconnect",
            {
                "reply_channel": self.reply_channel,
                "code": self.close_code,
                "path": self.info.path,
                "order": self.sent_order + 1,
            },
            on_error=self._disconnect_failed,
        )

    def _disconnect_failed(self, exc: BaseException) -> None:
        if isinstance(exc, self.context.channel_full):
            logger.debug("websocket.disconnect is full; not sending it")
        else:
            logger.warning("Channel layer unavailable; websocket.disconnect lost: %r", exc)

    def unregisterProducer(self) -> None:
        """Unregister a producer only if one is registered (Autobahn always calls this)."""
        transport: Any = self.transport
        if transport is not None and getattr(transport, "producer", None) is not None:
            transport.unregisterProducer()

    @staticmethod
    def _cancel(call: DelayedCall | None) -> None:
        if call is not None and call.active():
            call.cancel()


def _reading_transport(transport: Any) -> Any:
    """Return the transport whose reads can be paused (below any TLS wrapper), or None."""
    for _ in range(4):
        if transport is None or hasattr(transport, "pauseProducing"):
            return transport
        transport = getattr(transport, "transport", None)
    return None


def _close_code(close: object) -> int | None:
    if close is True:
        return 1000
    if isinstance(close, int) and not isinstance(close, bool) and close > 0:
        return close
    return None


class WebSocketFactory(WebSocketServerFactory):
    """Build ``WebSocketProtocol``s and take over upgraded HTTP requests."""

    protocol = WebSocketProtocol  # type: ignore[assignment]

    def __init__(self, context: ServerContext) -> None:
        options = context.options
        super().__init__(
            reactor=context.clock, server="Daphne", protocols=list(options.ws_protocols)
        )
        self.context = context
        self.setProtocolOptions(
            autoPingInterval=options.ping_interval,
            autoPingTimeout=options.ping_timeout,
            maxMessagePayloadSize=options.max_websocket_message_size,
            maxFramePayloadSize=options.max_websocket_message_size,
            # Our own connect timeout governs the held handshake.
            openHandshakeTimeout=0,
            # Fail with a close frame (1009, 1002 ...) rather than a bare TCP drop.
            failByDrop=False,
            # Origins are checked by Daphne itself (--ws-allowed-origin); let "null" through.
            allowNullOrigin=True,
        )

    def upgrade(self, request: AsgiRequest, info: RequestInfo) -> None:
        """Move ``request``'s connection over to a new WebSocket protocol."""
        channel = request.channel
        if not isinstance(channel, AsgiHTTPChannel):
            request.respond_error(400, "WebSocket upgrade is only possible over HTTP/1.1.")
            return
        transport: Any = channel.transport
        protocol = cast(WebSocketProtocol, self.buildProtocol(transport.getPeer()))
        protocol.info = info
        head = request.raw_handshake()
        if request.content is not None:
            request.content.close()
        buffered = channel.upgrade_to(protocol, request)
        protocol.dataReceived(head + buffered)
