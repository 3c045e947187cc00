# mypy: disable-error-code="no-untyped-call"
# (Twisted's web and Autobahn APIs are partly unannotated; calls into them are untyped.)
"""Turn HTTP/1.1 and HTTP/2 requests into ``http.request`` messages and write the replies.

How this works
--------------
Twisted's ``HTTPChannel`` (HTTP/1.x) or ``H2Connection`` (HTTP/2 over TLS)
parses the bytes; each request becomes an ``AsgiRequest``. Its states:

RECEIVING   Headers are in; body bytes are buffered (Twisted's temp file).
            ``gotLength``/``handleContentChunk`` enforce the body limit: past
            it, the client gets 413 at once and nothing is forwarded.
WAITING     The whole body arrived (``requestReceived``). A WebSocket upgrade
            is handed to the WebSocket factory instead. Otherwise the request
            gets a reply channel, ``http.request`` goes out carrying the first
            ``request_body_chunk_size`` bytes of body, and the rest is pumped to
            an ``http.request.body?`` channel, retrying with back-off on
            ``ChannelFull``. A timer of ``http_timeout`` seconds runs; if no
            reply arrives the client gets 503 and the app ``http.disconnect``.
STREAMING   The first reply set status and headers. Further chunks are written
            as they come (chunked encoding when no Content-Length). If
            ``http_idle_timeout`` is set, a gap longer than it between chunks
            aborts the response; otherwise a stream may run for ever.
DONE        ``more_content`` was false: the response is finished, the reply
            channel is forgotten and the access log gets its line.

If the client goes away before DONE, ``http.disconnect`` is sent (the long-poll
case: the app may hold the reply channel in a group). Malformed requests (bad
request line, too many or too large headers, undecodable path) get 400 and
nothing reaches the layer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

# twisted.web.http is wrapped in a deprecation proxy that costs microseconds per
# attribute access; the per-request paths use these names directly.
from twisted.web.http import NO_BODY_CODES, RESPONSES, HTTPChannel, Request
from twisted.web.http_headers import Headers
from twisted.web.iweb import INonQueuedRequestFactory
from zope.interface import implementer

from daphne.batching import PendingSend
from daphne.context import DelayedCall, ServerContext
from daphne.deadlines import Deadline
from daphne.keepalive import LazyTimeoutMixin
from daphne.request_info import BadRequestError, RequestInfo, address_pair, parse_request
from daphne.write_coalescing import install_write_coalescing

__all__ = ["AsgiHTTPChannel", "AsgiRequest", "RequestFactory"]

logger = logging.getLogger(__name__)

_HOP_BY_HOP = frozenset(
    [b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"]
)
_BODY_RETRY_FIRST = 0.005
_BODY_RETRY_MAX = 0.5


Upgrader = Callable[["AsgiRequest", RequestInfo], None]


class AsgiRequest(Request):
    """One HTTP request: forwarded to the layer, answered from its reply channel."""

    def __init__(
        self, channel: Any, context: ServerContext, upgrader: Upgrader | None = None
    ) -> None:
        super().__init__(channel)
        self.context = context
        self.upgrader = upgrader
        self.reply_channel: str | None = None
        self.asgi_path = ""
        self.body_size = 0
        self.rejected = False
        self.early_status = 0
        self.response_started = False
        self.upgraded = False
        self.started_at = context.clock.seconds()
        self.timeout_call: DelayedCall | Deadline | None = None
        self.body_channel: str | None = None
        self.pending_chunk: dict[str, Any] | None = None
        self.body_retry_delay = _BODY_RETRY_FIRST
        self.body_call: DelayedCall | None = None
        self.request_send: PendingSend | None = None
        self.body_send: PendingSend | None = None

    # Receiving ----------------------------------------------------------------

    def gotLength(self, length: int | None) -> None:
        """Refuse a declared body larger than the limit before reading any of it."""
        limit = self.context.options.max_request_body_size
        if length is not None and length > limit:
            self._reject_early(413, f"Request body of {length} bytes exceeds {limit} bytes.")
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        """Buffer body bytes, refusing the request once they pass the limit."""
        if self.rejected:
            return
        self.body_size += len(data)
        limit = self.context.options.max_request_body_size
        if self.body_size > limit:
            self._reject_early(413, f"Request body exceeds {limit} bytes.")
            return
        if self.content is not None:
            self.content.write(data)

    def _reject_early(self, status: int, text: str) -> None:
        self.rejected = True
        self.early_status = status
        if isinstance(self.channel, HTTPChannel):
            # HTTP/1.x: answer now and close, the rest of the body is never read.
            body = text.encode() + b"\n"
            reason = RESPONSES.get(status, b"Error")
            self.channel.persistent = False
            transport: Any = self.channel.transport
            transport.write(
                b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                % (status, reason, len(body), body)
            )
            transport.loseConnection()
            self._log_complete(status, len(body), getattr(self.channel, "_command", b"-"))
        # HTTP/2: the stream is answered in requestReceived once the body is drained.
        if self.content is not None:
            self.content.close()
        self.content = None

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        """Forward the finished request to the layer (or upgrade it to a WebSocket)."""
        self.method = command.upper()
        self.uri = path
        self.clientproto = version
        self.path = path.split(b"?", 1)[0]
        if self.rejected:
            if not isinstance(self.channel, HTTPChannel):
                self.respond_error(self.early_status, "Request body too large.")
            return
        if not self.context.accepting:
            self.respond_error(503, "Server is shutting down.", close=True)
            return
        try:
            info = parse_request(
                self.uri,
                self.requestHeaders,
                self.client,
                self.host,
                self.isSecure(),
                self.context.options,
            )
        except BadRequestError as exc:
            logger.info("Bad request from %s: %s", self.client, exc)
            self.respond_error(400, str(exc), close=True)
            return
        self.asgi_path = info.path
        if self.is_websocket_upgrade():
            if self.upgrader is None or not isinstance(self.channel, AsgiHTTPChannel):
                self.respond_error(400, "WebSocket upgrade is not possible on this connection.")
                return
            self.upgraded = True
            self.upgrader(self, info)
            return
        self.send_request(info)

    def is_websocket_upgrade(self) -> bool:
        """Return True if this is a GET asking to switch to the WebSocket protocol."""
        upgrade = self.requestHeaders.getRawHeaders(b"upgrade") or []
        return self.method == b"GET" and any(b"websocket" in v.lower() for v in upgrade)

    def send_request(self, info: RequestInfo) -> None:
        """Send ``http.request`` (and start pumping a large body) and start the timer."""
        context = self.context
        chunk_size = context.options.request_body_chunk_size
        body = b""
        if self.content is not None:
            self.content.seek(0)
            body = self.content.read(chunk_size)
        self.reply_channel = context.register(self)
        message: dict[str, Any] = {
            "reply_channel": self.reply_channel,
            "http_version": self.clientproto.decode("ascii", "replace").removeprefix("HTTP/"),
            "method": self.method.decode("ascii", "replace"),
            "path": info.path,
            "root_path": info.root_path,
            "scheme": info.scheme,
            "query_string": info.query_string,
            "headers": info.headers,
            "body": body,
            "client": info.client,
            "server": info.server,
        }
        more_body = self.content is not None and self.content.tell() < self.body_size
        if more_body:
            try:
                self.body_channel = context.channel_layer.new_channel("http.request.body?")
            except Exception as exc:
                self._request_failed(exc)
                return
            message["body_channel"] = self.body_channel
        # The body (if any) is pumped once http.request is known to be queued, so
        # it can never overtake the request or outlive a refused one.
        self.request_send = context.send(
            "http.request", message, self._request_sent, self._request_failed
        )
        self.timeout_call = context.response_deadlines.add(self._response_timed_out)

    def _request_sent(self) -> None:
        self.request_send = None
        logger.debug(
            "Sent http.request %s %s on %s", self.method, self.asgi_path, self.reply_channel
        )
        if self.body_channel is not None:
            self._pump_body()

    def _request_failed(self, exc: BaseException) -> None:
        self.request_send = None
        self.body_channel = None
        context = self.context
        if isinstance(exc, context.channel_full):
            logger.warning("http.request is full; answering 503 to %s", self.client)
            self.respond_error(503, "Server is busy; try again later.", close=True)
        elif isinstance(exc, context.message_too_large):
            logger.error("http.request for %s was too large for the layer", self.asgi_path)
            self.respond_error(413, "Request too large.", close=True)
        else:
            # The layer's server is unreachable (a Redis or RabbitMQ restart): the
            # client gets a clear 503 now rather than a dropped connection.
            logger.warning("Channel layer unavailable, answering 503 to %s: %r", self.client, exc)
            self.respond_error(503, "Channel layer unavailable; try again later.", close=True)
        # A client that left meanwhile gets no response; still release the channel.
        self._cancel_timeout()
        self.context.forget(self.reply_channel)

    # Request body chunks -----------------------------------------------------

    def _pump_body(self) -> None:
        """Queue the next body chunk (or retry the pending one); one chunk in flight."""
        self.body_call = None
        if self.finished or self._disconnected or self.body_channel is None:
            return
        if self.pending_chunk is None:
            content = self.content
            if content is None:
                return
            data = content.read(self.context.options.request_body_chunk_size)
            more = content.tell() < self.body_size
            self.pending_chunk = {"content": data, "more_content": more}
        self.body_send = self.context.send(
            self.body_channel, self.pending_chunk, self._chunk_sent, self._chunk_failed
        )

    def _chunk_sent(self) -> None:
        self.body_send = None
        self.body_retry_delay = _BODY_RETRY_FIRST
        chunk, self.pending_chunk = self.pending_chunk, None
        if chunk is None or not chunk["more_content"]:
            self.body_channel = None
            return
        self._pump_body()

    def _chunk_failed(self, exc: BaseException) -> None:
        self.body_send = None
        if self.finished or self._disconnected or self.body_channel is None:
            return
        if isinstance(exc, self.context.channel_full):
            # Back-pressure: the consumer is slower than the upload; wait and retry.
            self.body_call = self.context.clock.callLater(self.body_retry_delay, self._pump_body)
            self.body_retry_delay = min(_BODY_RETRY_MAX, self.body_retry_delay * 2)
            return
        logger.warning(
            "Could not forward the body of %s to %s: %r; closing the connection",
            self.asgi_path,
            self.body_channel,
            exc,
        )
        self.loseConnection()

    # Replies ------------------------------------------------------------------

    def handle_reply(self, message: dict[str, Any]) -> None:
        """Apply one Response / Response Chunk message from the application."""
        if self.finished or self._disconnected:
            return
        if "request" in message and "status" not in message:
            logger.debug("Dropping a server push on %s: push is not supported", self.reply_channel)
            return
        more = bool(message.get("more_content", False))
        try:
            content = _as_bytes(message.get("content", b""), "content")
            if not self.response_started:
                self._start_response(message)
                if not more:
                    self._set_length(len(content))
        except ValueError as exc:
            logger.error("Application sent a bad response on %s: %s", self.reply_channel, exc)
            self.respond_error(500, "Application sent an invalid response.", close=True)
            return
        if content or not self.startedWriting:
            self.write(content)
        if more:
            self._arm_idle_timer()
        else:
            self.finish_response()

    def _set_length(self, length: int) -> None:
        # The whole body is in this one message: send Content-Length, not chunks.
        headers = self.responseHeaders
        if (
            self.method != b"HEAD"
            and self.code not in NO_BODY_CODES
            and not headers.hasHeader(b"content-length")
        ):
            headers.setRawHeaders(b"content-length", [b"%d" % length])

    def _start_response(self, message: dict[str, Any]) -> None:
        status = message.get("status")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 999:
            raise ValueError(f"status is {status!r}; it must be an integer from 100 to 999")
        self.setResponseCode(status)
        h2 = not isinstance(self.channel, HTTPChannel)
        for pair in message.get("headers", ()) or ():
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise ValueError(f"header {pair!r} is not a [name, value] pair")
            name = _as_bytes(pair[0], "header name")
            value = _as_bytes(pair[1], "header value")
            if not name or any(c in name for c in b" :\r\n\t") or any(c in value for c in b"\r\n"):
                raise ValueError(f"header {name!r}: {value!r} contains forbidden characters")
            lowered = name.lower()
            # Framing is Daphne's job: a second Transfer-Encoding would corrupt HTTP/1.1
            # and connection-specific headers are illegal in HTTP/2.
            if lowered == b"transfer-encoding" or (h2 and lowered in _HOP_BY_HOP):
                continue
            self.responseHeaders.addRawHeader(name, value)
        self.response_started = True
        self._cancel_timeout()

    def _arm_idle_timer(self) -> None:
        self._cancel_timeout()
        if self.context.idle_deadlines is not None:
            self.timeout_call = self.context.idle_deadlines.add(self._stream_went_idle)

    def finish_response(self) -> None:
        """Complete the response, forget the reply channel and log the request."""
        self._cancel_timeout()
        self._stop_body()
        self.context.forget(self.reply_channel)
        if not self.finished and not self._disconnected:
            self.finish()
        self._log_complete(self.code, self.sentLength, self.method)

    def respond_error(self, status: int, text: str, close: bool = False) -> None:
        """Answer with a plain-text error page (unless a response already started)."""
        if self.finished or self._disconnected:
            return
        if self.response_started or self.startedWriting:
            self.loseConnection()
            return
        body = text.encode() + b"\n"
        self.setResponseCode(status)
        self.responseHeaders.setRawHeaders(b"content-type", [b"text/plain; charset=utf-8"])
        self.responseHeaders.setRawHeaders(b"content-length", [b"%d" % len(body)])
        if close and isinstance(self.channel, HTTPChannel):
            self.channel.persistent = False
            self.responseHeaders.setRawHeaders(b"connection", [b"close"])
        self.response_started = True
        self.write(body)
        self.finish_response()

    def _response_timed_out(self) -> None:
        self.timeout_call = None
        logger.info("No response for %s within the HTTP timeout; answering 503", self.asgi_path)
        self._send_disconnect()
        self.respond_error(503, "The application did not respond in time.")

    def _stream_went_idle(self) -> None:
        self.timeout_call = None
        logger.info("Streaming response for %s went idle; closing", self.asgi_path)
        self._send_disconnect()
        self.context.forget(self.reply_channel)
        self.loseConnection()

    def _cancel_timeout(self) -> None:
        if self.timeout_call is not None and self.timeout_call.active():
            self.timeout_call.cancel()
        self.timeout_call = None

    def _stop_body(self) -> None:
        if self.body_call is not None and self.body_call.active():
            self.body_call.cancel()
        self.body_call = None
        if self.body_send is not None and self.body_send.cancel():
            # Never handed to the layer: the chunk is simply not sent.
            self.body_send = None

    def _send_disconnect(self) -> None:
        if self.reply_channel is None:
            return
        self.context.send(
            "http.disconnect",
            {"reply_channel": self.reply_channel, "path": self.asgi_path},
            on_error=self._notice_failed,
        )

    def _notice_failed(self, exc: BaseException) -> None:
        # Best-effort notices (http.disconnect, the body's closed marker).
        if isinstance(exc, self.context.channel_full):
            logger.debug("Channel full; a disconnect notice for %s was not sent", self.asgi_path)
        else:
            logger.warning("Disconnect notice for %s not sent: %r", self.asgi_path, exc)

    def connectionLost(self, reason: Failure) -> None:
        """Tell the application the client left before the response was done."""
        super().connectionLost(reason)
        if self.upgraded or self.reply_channel is None or self.finished:
            return
        self._cancel_timeout()
        if self.request_send is not None and self.request_send.cancel():
            # The client left within the turn its request arrived: the request
            # never reached the layer, so the application needs no disconnect.
            self.request_send = None
            self.body_channel = None
            self.context.forget(self.reply_channel)
            return
        self._stop_body()
        if self.body_channel is not None:
            self.context.send(self.body_channel, {"closed": True}, on_error=self._notice_failed)
            self.body_channel = None
        self._send_disconnect()
        self.context.forget(self.reply_channel)

    def _log_complete(self, status: int, size: int, method: bytes) -> None:
        if self.context.action_logger is None:
            return
        client = address_pair(self.client)
        path = self.asgi_path
        if not path:
            channel = getattr(self, "channel", None)
            raw = getattr(channel, "_path", None) or getattr(self, "path", None) or b""
            path = raw.split(b"?", 1)[0].decode("latin-1") if isinstance(raw, bytes) else ""
        self.context.log_action(
            "http",
            "complete",
            {
                "path": path,
                "status": status,
                "method": method.decode("ascii", "replace"),
                "client": f"{client[0]}:{client[1]}" if client else "",
                "time_taken": self.context.clock.seconds() - self.started_at,
                "size": size,
            },
        )

    def raw_handshake(self) -> bytes:
        """Rebuild the request head so the WebSocket protocol can parse it itself."""
        lines = [b"%s %s %s" % (self.method, self.uri, self.clientproto)]
        for name, values in self.requestHeaders.getAllRawHeaders():
            lines.extend(b"%s: %s" % (name, value) for value in values)
        return b"\r\n".join(lines) + b"\r\n\r\n"


def _as_bytes(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("latin-1")
    raise ValueError(f"{what} is {type(value).__name__} {value!r:.60}; it must be bytes")


class AsgiHTTPChannel(LazyTimeoutMixin, HTTPChannel):
    """An HTTP/1.x connection that can hand itself over to a WebSocket protocol."""

    context: ServerContext
    #: The HTTP/2 connection that took over when ALPN chose h2 (shutdown asks it).
    switched_to: Any = None

    #: Closes the connection if a request head takes too long to arrive.
    head_deadline: Deadline | None = None

    #: This end's address, asked of the socket once per connection, not per request.
    _host: Any = None
    _secure: bool | None = None

    def connectionMade(self) -> None:
        """Track the connection so a shutdown can close it; coalesce its writes."""
        super().connectionMade()
        self.context.connections.add(self)
        install_write_coalescing(self.transport, self.context.clock)

    def writeHeaders(self, version: bytes, code: bytes, reason: bytes, headers: Any) -> None:
        """Write the response head as one piece (Twisted writes ~20 pieces, checking each)."""
        if not isinstance(headers, Headers):
            super().writeHeaders(version, code, reason, headers)
            return
        parts = [version, b" ", code, b" ", reason, b"\r\n"]
        for name, values in headers.getAllRawHeaders():
            for value in values:
                parts += (name, b": ", value, b"\r\n")
        parts.append(b"\r\n")
        transport: Any = self.transport
        transport.write(b"".join(parts))

    def isSecure(self) -> bool:
        """Return True over TLS (asked once per connection, not per request)."""
        if self._secure is None:
            self._secure = bool(super().isSecure())
        return self._secure

    @property
    def timeout_clock(self) -> Any:
        """The clock of the keep-alive timeout (LazyTimeoutMixin)."""
        return self.context.clock

    def getHost(self) -> Any:
        """Return this end's address (Twisted's ``Request`` asks for it on every request)."""
        if self._host is None:
            self._host = super().getHost()
        return self._host

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Forget the connection."""
        self._cancel_head_deadline()
        self.context.connections.discard(self)
        super().connectionLost(reason)
        self.stop_timeout()

    def dataReceived(self, data: bytes) -> None:
        """Start the request-head deadline with the first byte of a request."""
        # The keep-alive timeout restarts on every byte, so a client trickling one
        # byte a second would hold the socket forever; the head gets one deadline.
        if self.head_deadline is None and not self.requests:
            self.head_deadline = self.context.head_deadlines.add(self._head_timed_out)
        super().dataReceived(data)

    def allHeadersReceived(self) -> None:
        """Stop the request-head deadline: the head is complete."""
        self._cancel_head_deadline()
        super().allHeadersReceived()

    def _cancel_head_deadline(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_timed_out(self) -> None:
        self.head_deadline = None
        logger.info("Request head from %s took too long; closing", self.transport)
        self.loseConnection()

    def _send100Continue(self) -> None:
        # A request already refused (413) must not invite the client to upload.
        if self.requests and getattr(self.requests[-1], "rejected", False):
            return
        super()._send100Continue()

    def is_busy(self) -> bool:
        """Return True while a request (or an HTTP/2 stream) is in flight."""
        if self.switched_to is not None:
            return bool(getattr(self.switched_to, "streams", None))
        return bool(self.requests)

    def shutdown(self) -> None:
        """Close now if idle, else close once the current response(s) are done."""
        self.persistent = False
        # Twisted's loseConnection is not idempotent; the drain may ask again.
        if not self.is_busy() and not getattr(self.transport, "disconnecting", False):
            self.loseConnection()

    def upgrade_to(self, protocol: Any, request: AsgiRequest) -> bytes:
        """Hand the transport to ``protocol``; return bytes already read past the request."""
        self.stop_timeout()
        self._cancel_head_deadline()
        self.context.connections.discard(self)
        if request in self.requests:
            self.requests.remove(request)
        buffered = b"".join(self._dataBuffer)
        self._dataBuffer = []
        self._networkProducer.unregisterProducer()
        self.dataReceived = protocol.dataReceived  # type: ignore[method-assign]
        self.connectionLost = protocol.connectionLost  # type: ignore[method-assign]
        transport = self.transport
        protocol.makeConnection(transport)
        if transport is not None and not getattr(transport, "disconnecting", False):
            resume = getattr(transport, "resumeProducing", None)
            if resume is not None:
                resume()
        return buffered


@implementer(INonQueuedRequestFactory)
class RequestFactory:
    """Build ``AsgiRequest`` objects for HTTP/1.x and HTTP/2 channels."""

    def __init__(self, context: ServerContext, upgrader: Upgrader | None = None) -> None:
        self.context = context
        self.upgrader = upgrader

    def __call__(self, channel: Any, queued: object = None) -> AsgiRequest:
        """Return a new request bound to ``channel``."""
        return AsgiRequest(channel, self.context, self.upgrader)
