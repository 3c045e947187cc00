# mypy: disable-error-code="no-untyped-call"
# (Twisted's web and Autobahn APIs are partly unannotated; calls into them are untyped.)
"""Run Daphne: listen on endpoints, serve HTTP/WebSocket, read replies, shut down gracefully.

How this works
--------------
``Server.run`` installs Twisted's asyncio reactor (unless a reactor is already
installed), listens on every endpoint string, starts the ``ReplyReader`` and
runs the reactor until ``stop()`` (any thread), SIGTERM/SIGINT (when
``signal_handlers`` is true) or a listen failure. Stopping is graceful: a
"before shutdown" trigger stops the listening ports, refuses new requests with
503, closes idle keep-alive connections, closes WebSockets with 1001, and
waits up to ``shutdown_timeout`` seconds for in-flight requests to finish and
their connections to close (so no written response is lost) before aborting
what is left. Replies keep being read during that wait. Sends still
batched for the layer (disconnects above all) are flushed at the end of the
drain, and once more after the reactor has closed the remaining sockets.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, cast

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IProtocolNegotiationFactory
from twisted.python.failure import Failure
from twisted.web import http
from zope.interface import implementer

from daphne.context import ActionLogger, ServerContext
from daphne.endpoints import server_endpoint
from daphne.http_protocol import AsgiHTTPChannel, RequestFactory
from daphne.options import ServerOptions
from daphne.reply_reader import ReplyReader
from daphne.ws_protocol import WebSocketFactory

__all__ = ["HTTPFactory", "Server", "install_reactor"]

logger = logging.getLogger(__name__)

_DRAIN_POLL = 0.05


def install_reactor() -> Any:
    """Install Twisted's asyncio reactor if no reactor is installed yet; return the reactor."""
    if "twisted.internet.reactor" not in sys.modules:
        from twisted.internet import asyncioreactor

        asyncioreactor.install(asyncio.new_event_loop())
    from twisted.internet import reactor

    return reactor


class _SwitchingProtocol(http._GenericHTTPChannelProtocol):
    """Twisted's HTTP/1.1-or-HTTP/2 switcher that also untracks the HTTP/1 channel.

    When ALPN picks h2 the HTTP/1 channel is replaced before it ever sees
    ``connectionLost``; forget it here so the shutdown list does not leak.
    """

    def __init__(self, channel: AsgiHTTPChannel) -> None:
        super().__init__(channel)
        self._first_channel = channel

    def dataReceived(self, data: bytes) -> None:
        """Let Twisted pick HTTP/1.1 or HTTP/2, and tell the HTTP/1 channel which it was."""
        super().dataReceived(data)
        active: Any = self._channel
        if active is not self._first_channel:
            self._first_channel.switched_to = active

    def connectionLost(self, reason: Failure) -> None:
        """Forget the original channel, then let the active one clean up."""
        self._first_channel.context.connections.discard(self._first_channel)
        self._channel.connectionLost(reason)


@implementer(IProtocolNegotiationFactory)
class HTTPFactory(http.HTTPFactory):
    """Build HTTP channels (HTTP/1.x, or HTTP/2 when ALPN picks h2) for one server."""

    def __init__(self, context: ServerContext) -> None:
        super().__init__(timeout=context.options.keep_alive_timeout, reactor=context.clock)
        self.context = context
        self.websocket_factory = WebSocketFactory(context)
        self.request_factory = RequestFactory(context, self.websocket_factory.upgrade)

    def buildProtocol(self, addr: Any) -> Any:
        """Return a channel wired to this server's context and limits."""
        options = self.context.options
        channel = AsgiHTTPChannel()
        channel.context = self.context
        channel.maxHeaders = options.max_headers
        channel.totalHeadersSize = options.max_header_size
        protocol = _SwitchingProtocol(channel)
        protocol.factory = self
        protocol.requestFactory = self.request_factory
        protocol.timeOut = options.keep_alive_timeout
        protocol.callLater = self.context.clock.callLater
        return protocol

    def acceptableProtocols(self) -> list[bytes]:
        """Offer HTTP/2 through ALPN when the h2 package is available."""
        if http.H2_ENABLED:
            return [b"h2", b"http/1.1"]
        return [b"http/1.1"]

    def startFactory(self) -> None:
        """Do nothing: Daphne writes its own access log."""

    def stopFactory(self) -> None:
        """Do nothing: Daphne writes its own access log."""

    def log(self, request: Any) -> None:
        """Do nothing: Daphne writes its own access log."""


class Server:
    """Serve HTTP and WebSocket clients on ``endpoints`` through ``channel_layer``.

    Extra keyword options (see ``ServerOptions``): ``http_idle_timeout``,
    ``keep_alive_timeout``, ``request_head_timeout``, ``max_request_body_size``,
    ``request_body_chunk_size``,
    ``max_headers``, ``max_header_size``, ``max_websocket_message_size``,
    ``websocket_backpressure_timeout``, ``ws_allowed_origins``, ``proxy_trusted``,
    ``shutdown_timeout``,
    ``poll_min_delay``, ``poll_max_delay``.
    """

    def __init__(
        self,
        channel_layer: Any,
        endpoints: list[str],
        signal_handlers: bool = True,
        http_timeout: float = 120,
        websocket_timeout: float | None = None,
        websocket_connect_timeout: float = 5,
        ping_interval: float = 20,
        ping_timeout: float = 30,
        ws_protocols: list[str] | None = None,
        root_path: str = "",
        proxy_headers: bool = False,
        action_logger: ActionLogger | None = None,
        verbosity: int = 1,
        ready_callable: Callable[[], None] | None = None,
        force_sync: bool = False,
        **extra: Any,
    ) -> None:
        if not endpoints:
            raise ValueError(
                "endpoints is empty; give at least one, e.g. ['tcp:port=8000:interface=127.0.0.1']."
            )
        if isinstance(endpoints, str):
            raise TypeError(f"endpoints is the string {endpoints!r}; pass a list of strings.")
        if websocket_timeout is None:
            websocket_timeout = float(getattr(channel_layer, "group_expiry", 86400))
        lifetime: float | None = websocket_timeout
        if websocket_timeout == -1:
            lifetime = None
        elif websocket_timeout <= 0:
            raise ValueError(
                f"websocket_timeout is {websocket_timeout!r}; give seconds > 0, or -1 for no limit."
            )
        self.options = ServerOptions(
            http_timeout=http_timeout,
            websocket_timeout=lifetime,
            websocket_connect_timeout=websocket_connect_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            ws_protocols=tuple(ws_protocols or ()),
            root_path=root_path,
            proxy_headers=proxy_headers,
            **extra,
        )
        for description in endpoints:
            # Parse now (no reactor needed) so a typo fails here, not after start-up.
            server_endpoint(None, description)
        self.channel_layer = channel_layer
        self.endpoints = list(endpoints)
        self.signal_handlers = signal_handlers
        self.action_logger = action_logger
        self.verbosity = verbosity
        self.ready_callable = ready_callable
        self.force_sync = force_sync
        self.listening_addresses: list[tuple[str, int]] = []
        self.listeners: list[Any] = []
        self.context: ServerContext | None = None
        self.reader: ReplyReader | None = None
        self.reactor: Any = None
        self._listen_error: BaseException | None = None
        self._stop_requested = False
        self._lock = threading.Lock()

    # Running ------------------------------------------------------------------

    def run(self) -> None:
        """Listen and serve until stopped; raise OSError if an endpoint cannot listen."""
        reactor = install_reactor()
        with self._lock:
            self.reactor = reactor
        _bridge_twisted_logging()
        self.context = ServerContext(
            self.channel_layer, self.options, reactor, action_logger=self.action_logger
        )
        factory = HTTPFactory(self.context)
        self.reader = ReplyReader(
            self.channel_layer,
            [self.context.reply_prefix],
            self.context.dispatch,
            reactor,
            force_sync=self.force_sync,
            min_delay=self.options.poll_min_delay,
            max_delay=self.options.poll_max_delay,
        )
        if self.reader.mode == "poll" and not self.force_sync:
            logger.warning(
                "Polling the channel layer for replies: it offers no usable receive_async or "
                "receive_twisted (the reactor is %s; Daphne needs the asyncio reactor, so do not "
                "install another one before Server.run)",
                type(reactor).__name__,
            )
        reactor.addSystemEventTrigger("before", "shutdown", self._drain)
        reactor.addSystemEventTrigger("after", "shutdown", self._flush_sends)
        reactor.callWhenRunning(self._start, factory)
        reactor.run(installSignalHandlers=self.signal_handlers)
        if self._listen_error is not None:
            error = self._listen_error
            socket_error = getattr(error, "socketError", None)
            errno = getattr(socket_error, "errno", None)
            if errno is None:
                raise OSError(f"Cannot listen: {error}") from error
            raise OSError(errno, f"Cannot listen: {error}") from error

    def stop(self) -> None:
        """Stop serving (thread-safe); ``run`` returns after the graceful drain."""
        with self._lock:
            self._stop_requested = True
            reactor = self.reactor
        if reactor is not None and reactor.running:
            reactor.callFromThread(self._stop_reactor)

    def _stop_reactor(self) -> None:
        if self.reactor is not None and self.reactor.running:
            self.reactor.stop()

    def _start(self, factory: HTTPFactory) -> None:
        if self.reader is not None:
            self.reader.start()
        waits: list[Deferred[Any]] = []
        for description in self.endpoints:
            try:
                endpoint = server_endpoint(self.reactor, description)
            except ValueError as exc:
                self._fail(exc)
                return
            deferred = endpoint.listen(factory)
            deferred.addCallback(self._listening, description)
            waits.append(deferred)
        done = DeferredList(waits, consumeErrors=True)
        done.addCallback(self._all_listening)

    def _listening(self, port: Any, description: str) -> Any:
        self.listeners.append(port)
        address = port.getHost()
        host, number = getattr(address, "host", None), getattr(address, "port", None)
        if host is not None and number is not None:
            self.listening_addresses.append((host, number))
            logger.info("Listening on TCP address %s:%s (%s)", host, number, description)
        else:
            logger.info("Listening on endpoint %s", description)
        return port

    def _all_listening(self, results: list[tuple[bool, Any]]) -> None:
        for ok, result in results:
            if not ok:
                failure: Failure = result
                self._fail(failure.value or RuntimeError("listening failed"))
                return
        logger.info("Daphne ready; reply prefix %s", self.context and self.context.reply_prefix)
        if self.ready_callable is not None:
            try:
                self.ready_callable()
            except Exception:
                logger.exception("ready_callable failed")
        if self._stop_requested:
            self._stop_reactor()

    def _fail(self, error: BaseException) -> None:
        if isinstance(error, CannotListenError):
            logger.error(
                "Cannot listen on %s:%s: %s", error.interface, error.port, error.socketError
            )
        else:
            logger.error("Cannot listen: %s", error)
        self._listen_error = error
        self._stop_reactor()

    # Graceful shutdown --------------------------------------------------------

    def _drain(self) -> Deferred[None]:
        context = self.context
        finished: Deferred[None] = Deferred()
        if context is None:
            finished.callback(None)
            return finished
        logger.info("Shutting down: finishing in-flight requests")
        context.accepting = False
        for port in self.listeners:
            port.stopListening()
        for connection in list(context.connections):
            connection.shutdown()
        deadline = self.reactor.seconds() + self.options.shutdown_timeout

        def check() -> None:
            # Wait until every connection has closed, not merely until none is busy:
            # a response that just finished may still sit in its transport's buffer,
            # and the reactor's shutdown drops sockets without flushing them.
            remaining = list(context.connections)
            for connection in remaining:
                if not connection.is_busy():
                    connection.shutdown()  # closes once its output is written
            if remaining and self.reactor.seconds() < deadline:
                self.reactor.callLater(_DRAIN_POLL, check)
                return
            for connection in remaining:
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abortConnection()
            if remaining:
                busy = sum(1 for connection in remaining if connection.is_busy())
                logger.warning(
                    "Aborted %d connections at shutdown (%d still busy, %d still writing)",
                    len(remaining),
                    busy,
                    len(remaining) - busy,
                )
            context.sends.drain()
            if self.reader is not None:
                self.reader.stop()
            finished.callback(None)

        check()
        return finished

    def _flush_sends(self) -> None:
        # Closing the last sockets queued their disconnects; the reactor will not
        # turn again, so send them now.
        if self.context is not None:
            self.context.sends.drain()


def _bridge_twisted_logging() -> None:
    """Send Twisted's (and Autobahn's) log events to the stdlib ``twisted`` logger."""
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    if not getattr(globalLogBeginner, "_daphne_bridged", False):
        globalLogBeginner.beginLoggingTo(
            [cast(Any, STDLibLogObserver(name="twisted"))], redirectStandardIO=False
        )
        globalLogBeginner._daphne_bridged = True  # type: ignore[attr-defined]
