"""Format Daphne's access events as the 1.x ``runserver`` console lines.

Daphne calls an ``action_logger(protocol, action, details)`` for each finished
HTTP request and each WebSocket handshake, connect, reject and disconnect;
:func:`format_action` turns those into lines such as
``[2026/11/21 10:00:00] HTTP GET /chat/ 200 [0.01, 127.0.0.1:54321]`` together
with the name of the Django colour style ``runserver`` prints them in.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

__all__ = ["format_action", "status_style"]

_WEBSOCKET_WORDS = {
    "connecting": "HANDSHAKING",
    "connected": "CONNECT",
    "rejected": "REJECT",
    "disconnected": "DISCONNECT",
}


def status_style(status: int) -> str:
    """Return the Django style name (``HTTP_SUCCESS``, ...) for an HTTP status code."""
    if 200 <= status < 300:
        return "HTTP_SUCCESS"
    if 100 <= status < 200:
        return "HTTP_INFO"
    if status == 304:
        return "HTTP_NOT_MODIFIED"
    if 300 <= status < 400:
        return "HTTP_REDIRECT"
    if status == 404:
        return "HTTP_NOT_FOUND"
    if 400 <= status < 500:
        return "HTTP_BAD_REQUEST"
    return "HTTP_SERVER_ERROR"


def format_action(
    protocol: str,
    action: str,
    details: Mapping[str, Any],
    now: datetime.datetime | None = None,
) -> tuple[str, str | None] | None:
    """Return ``(line, style name or None)`` for a Daphne event, or None to print nothing."""
    stamp = (now or datetime.datetime.now()).strftime("[%Y/%m/%d %H:%M:%S]")
    path = details.get("path", "")
    client = details.get("client") or "-"
    if protocol == "http" and action == "complete":
        status = details.get("status")
        try:
            taken = f"{float(details.get('time_taken', 0.0)):.2f}"
        except (TypeError, ValueError):
            taken = "?"
        line = f"{stamp} HTTP {details.get('method', '-')} {path} {status} [{taken}, {client}]"
        style = status_style(status) if isinstance(status, int) else "HTTP_SERVER_ERROR"
        return line, style
    if protocol == "websocket" and action in _WEBSOCKET_WORDS:
        return f"{stamp} WebSocket {_WEBSOCKET_WORDS[action]} {path} [{client}]", None
    return None
