"""Hold the tunable limits and timeouts of one Daphne server, validated once."""

from __future__ import annotations

import fnmatch
import ipaddress
import math
from dataclasses import dataclass, field

__all__ = ["ServerOptions", "parse_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: list[str] | tuple[str, ...]) -> tuple[Network, ...]:
    """Turn addresses or CIDR blocks ("10.0.0.0/8", "::1") into networks.

    Raise ValueError naming the offending entry when one does not parse.
    """
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not an IP address or CIDR block; use e.g. '10.0.0.1' or "
                "'10.0.0.0/8' or '::1'."
            ) from exc
    return tuple(networks)


def _positive(name: str, value: float | int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise TypeError(f"{name} is {value!r}; it must be a number.")
    if value <= 0:
        raise ValueError(f"{name} is {value!r}; it must be greater than zero.")


def _optional_positive(name: str, value: float | int | None) -> None:
    if value is not None:
        _positive(name, value)


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """Every limit and timeout Daphne applies, with the documented defaults.

    Times are seconds. ``None`` disables an optional limit.
    """

    #: Seconds to wait for the response to start before answering 503.
    http_timeout: float = 120.0
    #: Seconds a started (streaming) response may go without a new chunk.
    http_idle_timeout: float | None = None
    #: Seconds an idle keep-alive HTTP connection stays open.
    keep_alive_timeout: float = 60.0
    #: Seconds a client has to send a whole request line and headers (slowloris guard).
    request_head_timeout: float = 30.0
    #: Largest accepted request body in bytes (413 above it).
    max_request_body_size: int = 100 * 1024 * 1024
    #: Body bytes carried in one layer message (the rest goes to http.request.body?).
    request_body_chunk_size: int = 256 * 1024
    #: Most header lines a request may carry (400 above it).
    max_headers: int = 100
    #: Largest size of request line plus headers in bytes (400 above it).
    max_header_size: int = 16 * 1024
    #: Maximum WebSocket connection lifetime; None means unlimited.
    websocket_timeout: float | None = 86400.0
    #: Seconds the application has to accept or reject a WebSocket handshake.
    websocket_connect_timeout: float = 5.0
    #: Largest incoming WebSocket message in bytes (close 1009 above it).
    max_websocket_message_size: int = 1024 * 1024
    #: Seconds to keep retrying a full websocket.receive channel before closing 1013.
    websocket_backpressure_timeout: float = 10.0
    #: Seconds between keepalive pings, and how long to wait for the pong.
    ping_interval: float = 20.0
    ping_timeout: float = 30.0
    #: Subprotocols offered in negotiation, in order of preference.
    ws_protocols: tuple[str, ...] = ()
    #: Origin patterns (fnmatch, e.g. "https://*.example.com") a browser WebSocket
    #: handshake must match; empty allows every origin (1.x behaviour).
    ws_allowed_origins: tuple[str, ...] = ()
    #: The mount point sent as ``root_path``.
    root_path: str = ""
    #: Take client address and scheme from X-Forwarded-For/-Port/-Proto.
    proxy_headers: bool = False
    #: Peers whose proxy headers are believed; empty means every peer.
    proxy_trusted: tuple[Network, ...] = field(default_factory=tuple)
    #: Seconds a graceful shutdown waits for in-flight requests.
    shutdown_timeout: float = 30.0
    #: Smallest and largest pause between polls when the layer cannot wait.
    poll_min_delay: float = 0.001
    poll_max_delay: float = 0.1

    def __post_init__(self) -> None:
        for name in (
            "http_timeout",
            "keep_alive_timeout",
            "request_head_timeout",
            "websocket_connect_timeout",
            "websocket_backpressure_timeout",
            "ping_interval",
            "ping_timeout",
            "shutdown_timeout",
            "poll_min_delay",
            "poll_max_delay",
            "max_request_body_size",
            "request_body_chunk_size",
            "max_headers",
            "max_header_size",
            "max_websocket_message_size",
        ):
            _positive(name, getattr(self, name))
        _optional_positive("http_idle_timeout", self.http_idle_timeout)
        _optional_positive("websocket_timeout", self.websocket_timeout)
        if self.poll_min_delay > self.poll_max_delay:
            raise ValueError(
                f"poll_min_delay ({self.poll_min_delay!r}) is larger than poll_max_delay "
                f"({self.poll_max_delay!r}); make the minimum the smaller one."
            )
        if self.root_path.endswith("/"):
            raise ValueError(
                f"root_path is {self.root_path!r}; drop the trailing slash (e.g. '/app')."
            )
        if self.root_path and not self.root_path.startswith("/"):
            raise ValueError(
                f"root_path is {self.root_path!r}; it must start with '/' (e.g. '/app')."
            )
        for protocol in self.ws_protocols:
            if not protocol or any(c in protocol for c in " ,\t\r\n"):
                raise ValueError(
                    f"WebSocket subprotocol {protocol!r} is not a valid token; use names "
                    "such as 'graphql-ws' without spaces or commas."
                )

    def allows_origin(self, origin: str | None) -> bool:
        """Return True if a WebSocket handshake with this Origin header may proceed.

        Requests without an Origin (non-browser clients) are always allowed.
        """
        if not self.ws_allowed_origins or not origin:
            return True
        origin = origin.strip().lower()
        return any(fnmatch.fnmatchcase(origin, p.lower()) for p in self.ws_allowed_origins)

    def trusts_proxy(self, host: str | None) -> bool:
        """Return True if proxy headers from the peer ``host`` may be believed."""
        if not self.proxy_headers:
            return False
        if not self.proxy_trusted:
            return True
        if host is None:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.proxy_trusted)
