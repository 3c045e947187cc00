"""The ``daphne`` command: parse options, load the channel layer, run the server."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from daphne import __version__
from daphne.access import AccessLogGenerator
from daphne.endpoints import build_endpoint_description_strings
from daphne.options import parse_networks

__all__ = ["CommandLineInterface", "load_channel_layer", "main"]

logger = logging.getLogger(__name__)

_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}


def load_channel_layer(path: str) -> Any:
    """Import ``module.path:attribute`` (default attribute ``channel_layer``) and return it."""
    module_name, _, attribute = path.partition(":")
    attribute = attribute or "channel_layer"
    if not module_name:
        raise ValueError(
            f"Channel layer {path!r} has no module; write it as myproject.asgi:channel_layer."
        )
    if "." not in sys.path and "" not in sys.path:
        sys.path.insert(0, ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"Cannot import module {module_name!r} for channel layer {path!r}: {exc}. "
            "Run daphne from your project directory or fix the module path."
        ) from exc
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise ValueError(
                f"Module {module_name!r} has no attribute {attribute!r}; write the layer as "
                f"{module_name}:channel_layer (the name your asgi.py assigns)."
            ) from exc
    if not callable(getattr(target, "send", None)) or not callable(
        getattr(target, "receive", None)
    ):
        raise ValueError(
            f"{path!r} is {target!r}, not a channel layer (it needs send() and receive())."
        )
    return target


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than zero")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than zero")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from exc
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number from 0 to 65535")
    return value


def _websocket_timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from exc
    if value != -1 and value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than zero, or -1 for no limit")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``daphne`` command."""
    parser = argparse.ArgumentParser(
        prog="daphne",
        description="Django HTTP/WebSocket interface server for ASGI 1 channel layers.",
    )
    add = parser.add_argument
    add("-p", "--port", type=_port, default=None, help="Port number to listen on (default 8000)")
    add(
        "-b",
        "--bind",
        dest="host",
        default=None,
        help="The host/address to bind to, IPv4 or IPv6 (default 127.0.0.1)",
    )
    add(
        "-u",
        "--unix-socket",
        default=None,
        help="Bind to a UNIX socket rather than a TCP host/port",
    )
    add(
        "--fd",
        type=int,
        dest="file_descriptor",
        default=None,
        help="Bind to an already-listening socket on this file descriptor",
    )
    add(
        "-e",
        "--endpoint",
        dest="socket_strings",
        action="append",
        default=[],
        help="Twisted endpoint description string, e.g. ssl:443:privateKey=key.pem:certKey=crt.pem "
        "(repeatable)",
    )
    add(
        "-v",
        "--verbosity",
        type=int,
        choices=[0, 1, 2, 3],
        default=1,
        help="How verbose to make the output (0-3, default 1)",
    )
    add(
        "-t",
        "--http-timeout",
        type=_positive_float,
        default=120,
        help="Seconds to wait for the application to start a response before sending 503 "
        "(default 120)",
    )
    add(
        "--http-idle-timeout",
        type=_positive_float,
        default=None,
        help="Seconds a streaming response may go without a chunk before it is closed "
        "(default: no limit)",
    )
    add(
        "--keep-alive-timeout",
        type=_positive_float,
        default=60,
        help="Seconds an idle keep-alive connection stays open (default 60)",
    )
    add(
        "--request-head-timeout",
        type=_positive_float,
        default=30,
        help="Seconds a client has to send its whole request line and headers, however "
        "slowly it trickles them (default 30)",
    )
    add(
        "--access-log",
        default=None,
        help="Where to write the access log: a file path, or - for stdout",
    )
    add(
        "--ping-interval",
        type=_positive_float,
        default=20,
        help="Seconds a WebSocket must be idle before a keepalive ping is sent (default 20)",
    )
    add(
        "--ping-timeout",
        type=_positive_float,
        default=30,
        help="Seconds to wait for a pong before closing the WebSocket (default 30)",
    )
    add(
        "--websocket_timeout",
        "--websocket-timeout",
        dest="websocket_timeout",
        type=_websocket_timeout,
        default=None,
        help="Maximum WebSocket lifetime in seconds (default: the layer group_expiry; -1: none)",
    )
    add(
        "--websocket_connect_timeout",
        "--websocket-connect-timeout",
        dest="websocket_connect_timeout",
        type=_positive_float,
        default=5,
        help="Seconds the application has to accept a WebSocket handshake (default 5)",
    )
    add(
        "--websocket-backpressure-timeout",
        type=_positive_float,
        default=10,
        help="Seconds to keep retrying a full websocket.receive channel, with reads paused, "
        "before closing 1013 (default 10)",
    )
    add(
        "--ws-protocol",
        dest="ws_protocols",
        action="append",
        default=[],
        metavar="PROTOCOL",
        help="A WebSocket subprotocol the server accepts (repeatable, or comma-separated), "
        "in preference order",
    )
    add(
        "--ws-allowed-origin",
        dest="ws_allowed_origins",
        action="append",
        default=[],
        metavar="PATTERN",
        help="Only accept browser WebSocket handshakes whose Origin matches this pattern, e.g. "
        "https://example.com or https://*.example.com (repeatable; default: any origin)",
    )
    add("--root-path", default="", help="The setting for the ASGI root_path variable, e.g. /forum")
    add(
        "--proxy-headers",
        action="store_true",
        help="Take the client address and scheme from X-Forwarded-For/-Port/-Proto",
    )
    add(
        "--proxy-headers-trusted",
        dest="proxy_trusted",
        action="append",
        default=[],
        metavar="ADDRESS_OR_CIDR",
        help="Only believe proxy headers from these peers (repeatable; default: any peer)",
    )
    add(
        "--max-body-size",
        dest="max_request_body_size",
        type=_positive_int,
        default=100 * 1024 * 1024,
        help="Largest request body in bytes; above it 413 (default 100 MiB)",
    )
    add(
        "--max-ws-message-size",
        dest="max_websocket_message_size",
        type=_positive_int,
        default=1024 * 1024,
        help="Largest incoming WebSocket message in bytes; above it close 1009 (default 1 MiB)",
    )
    add(
        "--max-headers",
        type=_positive_int,
        default=100,
        help="Most header lines per request; above it 400 (default 100)",
    )
    add(
        "--max-header-size",
        type=_positive_int,
        default=16384,
        help="Largest request line plus headers in bytes; above it 400 (default 16384)",
    )
    add(
        "--shutdown-timeout",
        type=_positive_float,
        default=30,
        help="Seconds a graceful shutdown (SIGTERM) waits for in-flight requests (default 30)",
    )
    add(
        "--force-sync",
        action="store_true",
        help="Poll the layer with receive() even if it offers async or twisted receive",
    )
    add("--version", action="version", version=f"daphne {__version__}")
    add("channel_layer", help="The channel layer to serve, as module.path:attribute")
    return parser


class CommandLineInterface:
    """Parse ``daphne`` arguments and run a ``Server``."""

    #: The server to run; None means ``daphne.server.Server`` (imported only when
    #: needed, so ``--help`` and argument errors do not wait for Twisted to load).
    server_class: Any = None

    def __init__(self) -> None:
        self.parser = build_parser()

    def run(self, argv: Sequence[str]) -> None:
        """Run the server for ``argv``; exit 2 with a clear message on bad arguments."""
        args = self.parser.parse_args(list(argv))
        logging.basicConfig(
            level=_LEVELS[args.verbosity], format="%(asctime)s %(levelname)-8s %(name)s %(message)s"
        )
        # Twisted and Autobahn narrate every refused handshake; keep them quiet unless asked.
        twisted_level = {0: logging.ERROR, 1: logging.ERROR, 2: logging.WARNING}
        logging.getLogger("twisted").setLevel(twisted_level.get(args.verbosity, logging.DEBUG))
        endpoints = self.endpoints(args)
        try:
            proxy_trusted = parse_networks(args.proxy_trusted)
        except ValueError as exc:
            self.parser.error(f"--proxy-headers-trusted: {exc}")
        try:
            layer = load_channel_layer(args.channel_layer)
        except ValueError as exc:
            self.parser.error(str(exc))
        access_stream: TextIO | None = None
        if args.access_log == "-":
            access_stream = sys.stdout
        elif args.access_log:
            try:
                access_stream = open(args.access_log, "a", buffering=1)
            except OSError as exc:
                self.parser.error(f"--access-log: cannot open {args.access_log!r}: {exc.strerror}")
        action_logger = AccessLogGenerator(access_stream) if access_stream is not None else None
        server_class = self.server_class
        if server_class is None:
            from daphne.server import Server as server_class
        try:
            server = server_class(
                channel_layer=layer,
                endpoints=endpoints,
                http_timeout=args.http_timeout,
                websocket_timeout=args.websocket_timeout,
                websocket_connect_timeout=args.websocket_connect_timeout,
                ping_interval=args.ping_interval,
                ping_timeout=args.ping_timeout,
                ws_protocols=[p.strip() for v in args.ws_protocols for p in v.split(",")],
                ws_allowed_origins=tuple(args.ws_allowed_origins),
                root_path=args.root_path,
                proxy_headers=args.proxy_headers,
                action_logger=action_logger,
                verbosity=args.verbosity,
                force_sync=args.force_sync,
                http_idle_timeout=args.http_idle_timeout,
                keep_alive_timeout=args.keep_alive_timeout,
                request_head_timeout=args.request_head_timeout,
                max_request_body_size=args.max_request_body_size,
                max_websocket_message_size=args.max_websocket_message_size,
                max_headers=args.max_headers,
                max_header_size=args.max_header_size,
                websocket_backpressure_timeout=args.websocket_backpressure_timeout,
                proxy_trusted=proxy_trusted,
                shutdown_timeout=args.shutdown_timeout,
            )
        except (TypeError, ValueError) as exc:
            self.parser.error(str(exc))
        logger.info(
            "Starting server at %s, channel layer %s", ", ".join(endpoints), args.channel_layer
        )
        try:
            server.run()
        except OSError as exc:
            logger.error("%s", exc)
            raise SystemExit(1) from exc
        finally:
            if action_logger is not None:
                action_logger.close()

    def endpoints(self, args: argparse.Namespace) -> list[str]:
        """Return the endpoint strings the bind options ask for."""
        host, port = args.host, args.port
        others = args.unix_socket or args.file_descriptor is not None or args.socket_strings
        if host is None and port is None and not others:
            host, port = "127.0.0.1", 8000
        elif host is not None and port is None:
            port = 8000
        elif port is not None and host is None:
            host = "127.0.0.1"
        try:
            strings = build_endpoint_description_strings(
                host=host,
                port=port,
                unix_socket=args.unix_socket,
                file_descriptor=args.file_descriptor,
            )
        except ValueError as exc:
            self.parser.error(str(exc))
        return strings + list(args.socket_strings)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``daphne`` console script."""
    CommandLineInterface().run(sys.argv[1:] if argv is None else argv)
