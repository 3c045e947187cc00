"""What the long-running layer commands (``runworker``, ``rundelay``) share.

Both take ``--layer``, need a layer that spans processes (the in-memory layer
would never see a message another process sent), and log to the command's
stderr at a level picked by ``-v``.
"""

from __future__ import annotations

import logging
from typing import Any, TextIO

from django.core.management.base import CommandError, CommandParser

from channels.asgi import DEFAULT_CHANNEL_LAYER, InvalidChannelLayerError, channel_layers

__all__ = ["LOG_FORMAT", "add_layer_argument", "cross_process_layer", "log_to_stream"]

LOG_FORMAT = "%(asctime)s - %(levelname)s - %(module)s - %(message)s"


def add_layer_argument(parser: CommandParser) -> None:
    """Add ``--layer ALIAS`` (default: the ``default`` layer)."""
    parser.add_argument(
        "--layer",
        dest="layer",
        default=DEFAULT_CHANNEL_LAYER,
        help="Channel layer alias to use (default: %(default)s).",
    )


def cross_process_layer(alias: str | None, why: str) -> Any:
    """Return the layer ``alias`` names; CommandError if unknown or in-memory.

    ``why`` ends the in-memory error: what would go wrong and what to do instead.
    """
    alias = alias or DEFAULT_CHANNEL_LAYER
    try:
        channel_layer = channel_layers[alias]
    except InvalidChannelLayerError as exc:
        raise CommandError(str(exc)) from exc
    if channel_layer.local_only():
        raise CommandError(
            f"Channel layer {alias!r} is the in-memory layer, which cannot span processes, so {why}"
        )
    return channel_layer


def log_to_stream(logger_name: str, stream: TextIO, verbosity: int) -> None:
    """Send ``logger_name``'s records to ``stream``: warnings at -v 0, info at 1, all above."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    target = logging.getLogger(logger_name)
    target.addHandler(handler)
    target.setLevel(level)
