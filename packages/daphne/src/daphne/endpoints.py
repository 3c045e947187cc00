# mypy: disable-error-code="no-untyped-call"
# (Twisted's web and Autobahn APIs are partly unannotated; calls into them are untyped.)
"""Turn command-line style bind options into Twisted endpoint description strings."""

from __future__ import annotations

import os
import socket
from typing import Any

__all__ = ["build_endpoint_description_strings", "quote_endpoint_value", "server_endpoint"]

_FAMILIES = {"INET": socket.AF_INET, "INET6": socket.AF_INET6, "UNIX": socket.AF_UNIX}


def quote_endpoint_value(value: str) -> str:
    """Escape ``:``, ``=`` and ``\\`` so ``value`` survives endpoint-string parsing."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def build_endpoint_description_strings(
    host: str | None = None,
    port: int | None = None,
    unix_socket: str | None = None,
    file_descriptor: int | None = None,
) -> list[str]:
    """Return endpoint strings for a host/port pair, a UNIX socket and/or an fd.

    ``host`` and ``port`` go together (give both or neither); an IPv6 host may
    be written with or without brackets.
    """
    descriptions: list[str] = []
    if (host is None) != (port is None):
        raise ValueError(
            f"host is {host!r} and port is {port!r}; give both (e.g. host='127.0.0.1', "
            "port=8000) or neither."
        )
    if host is not None and port is not None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port is {port!r}; it must be an integer from 0 to 65535.")
        bare = host.strip("[]")
        if not bare:
            raise ValueError(f"host is {host!r}; give an address such as '127.0.0.1' or '::'.")
        descriptions.append(f"tcp:port={port}:interface={quote_endpoint_value(bare)}")
    if unix_socket is not None:
        if not unix_socket:
            raise ValueError(
                "unix_socket is empty; give a filesystem path such as /run/daphne.sock."
            )
        descriptions.append(f"unix:{quote_endpoint_value(unix_socket)}")
    if file_descriptor is not None:
        if isinstance(file_descriptor, bool) or file_descriptor < 0:
            raise ValueError(
                f"file_descriptor is {file_descriptor!r}; it must be a non-negative integer."
            )
        descriptions.append(f"fd:fileno={file_descriptor}")
    return descriptions


def _parse_fd(description: str) -> tuple[int, int]:
    fileno: int | None = None
    family = socket.AF_INET
    for part in description.split(":")[1:]:
        key, sep, value = part.partition("=")
        if not sep:
            key, value = "fileno", key
        if key == "fileno" and value.isdigit():
            fileno = int(value)
        elif key == "domain" and value.upper() in _FAMILIES:
            family = _FAMILIES[value.upper()]
        else:
            raise ValueError(
                f"Endpoint {description!r} has a bad part {part!r}; write it as "
                "'fd:fileno=3' or 'fd:fileno=3:domain=INET6'."
            )
    if fileno is None:
        raise ValueError(f"Endpoint {description!r} has no fileno; write it as 'fd:fileno=3'.")
    return fileno, family


def server_endpoint(reactor: Any, description: str) -> Any:
    """Return the listening endpoint for ``description``.

    Everything Twisted understands (``tcp:``, ``ssl:``, ``unix:``, ``systemd:``
    ...) is passed through; ``fd:fileno=N[:domain=INET|INET6|UNIX]`` adopts an
    already-listening socket handed over by a process manager.
    """
    # Imported here so building endpoint strings (and ``daphne --help``) stays light.
    from twisted.internet.endpoints import AdoptedStreamServerEndpoint, serverFromString

    if description.startswith("fd:"):
        fileno, family = _parse_fd(description)
        try:
            os.fstat(fileno)
        except OSError as exc:
            raise ValueError(
                f"Endpoint {description!r}: file descriptor {fileno} is not open in this "
                "process; pass a listening socket inherited from the parent."
            ) from exc
        endpoint = AdoptedStreamServerEndpoint(reactor, fileno, family)
        return endpoint
    try:
        return serverFromString(reactor, description)
    # Endpoint parsers are plugins that fail in their own ways (ValueError, KeyError,
    # OSError for a missing certificate file, OpenSSL errors for a bad one).
    except Exception as exc:
        raise ValueError(
            f"Endpoint {description!r} is not a valid Twisted endpoint string ({exc}); use "
            "e.g. 'tcp:port=8000:interface=127.0.0.1' or "
            "'ssl:443:privateKey=key.pem:certKey=crt.pem'."
        ) from exc
