"""Write the access log: one NCSA-style line per HTTP response or WebSocket event.

Lines go to the ``daphne.access`` logger, so operators route them with normal
logging configuration; ``AccessLogGenerator(stream)`` attaches a handler that
writes bare lines to a file or stdout (what ``--access-log`` does).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any, TextIO

__all__ = ["ACCESS_LOGGER_NAME", "AccessLogGenerator", "format_access_line"]

ACCESS_LOGGER_NAME = "daphne.access"
logger = logging.getLogger(__name__)

_WS_VERBS = {
    "connecting": "WSCONNECTING",
    "connected": "WSCONNECT",
    "rejected": "WSREJECT",
    "disconnected": "WSDISCONNECT",
}


def format_access_line(
    protocol: str, action: str, details: Mapping[str, Any], now: datetime.datetime | None = None
) -> str | None:
    """Return the access-log line for one server event, or None if it is not logged.

    HTTP: ``host - - [date] "GET /path" 200 1234``; WebSocket:
    ``host - - [date] "WSCONNECT /path" - -``.
    """
    moment = now or datetime.datetime.now()
    date = moment.strftime("%d/%b/%Y:%H:%M:%S")
    host = details.get("client") or "-"
    if protocol == "http" and action == "complete":
        request = f"{details.get('method', '-')} {details.get('path', '-')}"
        status = details.get("status", "-")
        size = details.get("size", "-")
        return f'{host} - - [{date}] "{request}" {status} {size}'
    if protocol == "websocket" and action in _WS_VERBS:
        return f'{host} - - [{date}] "{_WS_VERBS[action]} {details.get("path", "-")}" - -'
    return None


class AccessLogGenerator:
    """Log server events as access lines; optionally write them to ``stream`` too.

    Instances are the ``action_logger`` callable that ``Server`` accepts.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.logger = logging.getLogger(ACCESS_LOGGER_NAME)
        self.handler: logging.Handler | None = None
        if stream is not None:
            self.handler = logging.StreamHandler(stream)
            self.handler.setFormatter(logging.Formatter("%(message)s"))
            self.logger.addHandler(self.handler)
            self.logger.setLevel(logging.INFO)
            # The file gets bare lines; do not repeat them on the console.
            self.logger.propagate = False

    def __call__(self, protocol: str, action: str, details: Mapping[str, Any]) -> None:
        """Log one event (see ``format_access_line``)."""
        line = format_access_line(protocol, action, details)
        if line is not None:
            self.logger.info("%s", line)

    def close(self) -> None:
        """Detach the stream handler this generator added."""
        if self.handler is not None:
            self.logger.removeHandler(self.handler)
            self.handler.flush()
            self.handler = None
