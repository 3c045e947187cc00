"""``manage.py rundelay``: run the delay server for the asgi.delay channel."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels.delay.worker import DELAY_CHANNEL, DelayWorker
from channels.management.layer_commands import (
    add_layer_argument,
    cross_process_layer,
    log_to_stream,
)

__all__ = ["Command"]

logger = logging.getLogger(__name__)


class Command(BaseCommand):  # type: ignore[misc]
    """Listen on asgi.delay, store delayed messages and send them when they are due."""

    help = "Runs the delay server: sends messages from the asgi.delay channel after their delay."
    leave_locale_alone = True

    def add_arguments(self, parser: CommandParser) -> None:
        """Add --layer and --sleep."""
        super().add_arguments(parser)
        add_layer_argument(parser)
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
        channel_layer = cross_process_layer(
            options.get("layer"),
            "rundelay would never see a message sent by another process. Use a "
            "cross-process layer such as asgi_redis.RedisChannelLayer or "
            "asgi_ipc.IPCChannelLayer.",
        )
        log_to_stream("channels.delay", self.stderr, int(options.get("verbosity", 1)))
        worker = DelayWorker(channel_layer, database_sleep_duration=float(sleep))
        logger.info(
            "Running the delay server on %s, listening on %s (database poll every %ss)",
            channel_layer,
            DELAY_CHANNEL,
            sleep,
        )
        worker.run()
