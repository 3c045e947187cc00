"""``manage.py rundelay``: run the delay server for the asgi.delay channel."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels.asgi import DEFAULT_CHANNEL_LAYER, InvalidChannelLayerError, channel_layers
from channels.delay.worker import DELAY_CHANNEL, DelayWorker

__all__ = ["Command"]

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s - %(levelname)s - %(module)s - %(message)s"


class Command(BaseCommand):  # type: ignore[misc]
    """Listen on asgi.delay, store delayed messages and send them when they are due."""

    help = "Runs the delay server: sends messages from the asgi.delay channel after their delay."
    leave_locale_alone = True

    def add_arguments(self, parser: CommandParser) -> None:
        """Add --layer and --sleep."""
        super().add_arguments(parser)
        parser.add_argument(
            "--layer",
            dest="layer",
            default=DEFAULT_CHANNEL_LAYER,
            help="Channel layer alias to use (default: %(default)s).",
        )
        parser.add_argument(
            "--sleep",
            dest="sleep",
            type=float,
            default=1.0,
            help="Seconds between database polls (default: %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Check the options and the layer, then serve until SIGTERM/SIGINT."""
        sleep = options.get("sleep", 1.0)
        if isinstance(sleep, bool) or not isinstance(sleep, int | float) or not sleep > 0:
            raise CommandError(f"--sleep is {sleep!r}; give a number of seconds above 0, e.g. 1.")
        alias = options.get("layer") or DEFAULT_CHANNEL_LAYER
        try:
            channel_layer = channel_layers[alias]
        except InvalidChannelLayerError as exc:
            raise CommandError(str(exc)) from exc
        if channel_layer.local_only():
            raise CommandError(
                f"Channel layer {alias!r} is the in-memory layer, which cannot span processes, "
                "so rundelay would never see a message sent by another process. Use a "
                "cross-process layer such as asgi_redis.RedisChannelLayer or "
                "asgi_ipc.IPCChannelLayer."
            )
        self._setup_logging(int(options.get("verbosity", 1)))
        worker = DelayWorker(channel_layer, database_sleep_duration=float(sleep))
        logger.info(
            "Running the delay server on %s, listening on %s (database poll every %ss)",
            channel_layer,
            DELAY_CHANNEL,
            sleep,
        )
        worker.run()

    def _setup_logging(self, verbosity: int) -> None:
        level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
        handler = logging.StreamHandler(self.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        delay_logger = logging.getLogger("channels.delay")
        delay_logger.addHandler(handler)
        delay_logger.setLevel(level)
