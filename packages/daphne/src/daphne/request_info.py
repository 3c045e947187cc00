"""Parse a request head into the fields ``http.request`` and ``websocket.connect`` share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress
from twisted.web.http_headers import Headers

from daphne.options import ServerOptions

# RFC 9112 3.2: a request-target has no spaces or controls; RFC 9110 5.5: a field value
# may hold a horizontal tab but no other control character.
_TARGET_FORBIDDEN = re.compile(rb"[\x00-\x20\x7f]")
_VALUE_FORBIDDEN = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

__all__ = ["BadRequestError", "RequestInfo", "address_pair", "parse_request"]


def address_pair(address: IAddress | None) -> list[Any] | None:
    """Return ``[host, port]`` for a TCP address, None for anything else (UNIX sockets)."""
    if isinstance(address, IPv4Address | IPv6Address):
        return [address.host, address.port]
    return None


@dataclass(slots=True)
class RequestInfo:
    """The parts of a parsed request both HTTP and WebSocket messages need."""

    path: str
    query_string: bytes
    headers: list[list[bytes]]
    client: list[Any] | None
    server: list[Any] | None
    scheme: str
    root_path: str


class BadRequestError(ValueError):
    """The client sent something we cannot turn into a message (answer 400)."""


def parse_request(
    uri: bytes,
    request_headers: Headers,
    peer: IAddress | None,
    host: IAddress | None,
    secure: bool,
    options: ServerOptions,
) -> RequestInfo:
    """Return the path, query, headers, addresses and scheme of a request head.

    Raise BadRequestError (answer 400) if the target or a Daphne header is malformed.
    """
    if _TARGET_FORBIDDEN.search(uri):
        raise BadRequestError(f"Request target {uri[:80]!r} contains a space or control character.")
    raw_path, _, query = uri.partition(b"?")
    if not raw_path.startswith(b"/") and raw_path != b"*":
        # absolute-form (proxies): http://host/path
        parts = urlsplit(raw_path)
        if not parts.scheme or not parts.path.startswith(b"/"):
            raise BadRequestError(f"Request target {uri[:80]!r} is not a path.")
        raw_path = parts.path
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequestError("Request path is not valid UTF-8 once percent-decoded.") from exc
    headers: list[list[bytes]] = []
    for name, values in request_headers.getAllRawHeaders():
        lowered = name.lower()
        # Names with underscores could spoof dash names once a WSGI-style layer
        # maps both to the same key, so they never reach the application.
        if b"_" in lowered:
            continue
        for value in values:
            if _VALUE_FORBIDDEN.search(value):
                raise BadRequestError(
                    f"Header {name[:40]!r} has a control character in its value {value[:40]!r}."
                )
            headers.append([lowered, value])
    client = address_pair(peer)
    scheme = "https" if secure else "http"
    if client is not None and options.trusts_proxy(client[0]):
        client, scheme = _apply_proxy_headers(request_headers, client, scheme)
    root_path = options.root_path
    header_root = request_headers.getRawHeaders(b"daphne-root-path")
    if header_root:
        try:
            root_path = unquote(header_root[0].decode("latin-1"), errors="strict")
        except UnicodeDecodeError as exc:
            raise BadRequestError("Daphne-Root-Path header is not valid UTF-8.") from exc
    return RequestInfo(
        path=path,
        query_string=query,
        headers=headers,
        client=client,
        server=address_pair(host),
        scheme=scheme,
        root_path=root_path,
    )


def _apply_proxy_headers(headers: Headers, client: list[Any], scheme: str) -> tuple[list[Any], str]:
    forwarded_for = headers.getRawHeaders(b"x-forwarded-for")
    if forwarded_for:
        leftmost = forwarded_for[0].split(b",")[0].strip().decode("latin-1")
        if leftmost:
            client = [leftmost.strip("[]"), 0]
            port = headers.getRawHeaders(b"x-forwarded-port")
            if port and port[0].strip().isdigit():
                client[1] = int(port[0].strip())
    proto = headers.getRawHeaders(b"x-forwarded-proto")
    if proto:
        value = proto[0].split(b",")[0].strip().lower().decode("latin-1")
        if value in ("http", "https"):
            scheme = value
    return client, scheme
