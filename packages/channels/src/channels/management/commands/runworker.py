"""``manage.py runworker``: run consumers for a cross-process channel layer."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels.asgi import DEFAULT_CHANNEL_LAYER, InvalidChannelLayerError, channel_layers
from channels.message import Message
from channels.signals import worker_process_ready
from channels.worker import Worker, WorkerGroup

__all__ = ["Command"]

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s - %(levelname)s - %(module)s - %(message)s"


class Command(BaseCommand):  # type: ignore[misc]
    """Run a worker that takes messages off the channel layer and runs their consumers."""

    help = "Runs a Channels worker: consumes messages from a channel layer and runs consumers."
    leave_locale_alone = True

    def add_arguments(self, parser: CommandParser) -> None:
        """Add --layer, --only-channels, --exclude-channels and --threads."""
        super().add_arguments(parser)
        parser.add_argument(
            "--layer",
            dest="layer",
            default=DEFAULT_CHANNEL_LAYER,
            help="Channel layer alias to use (default: %(default)s).",
        )
        parser.add_argument(
            "--only-channels",
            dest="only_channels",
            action="append",
            help="Only listen on these channels (glob patterns allowed; repeatable).",
        )
        parser.add_argument(
            "--exclude-channels",
            dest="exclude_channels",
            action="append",
            help="Do not listen on these channels (glob patterns allowed; repeatable).",
        )
        parser.add_argument(
            "--threads",
            dest="threads",
            type=int,
            default=1,
            help="Number of worker threads (default: %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Check the layer, set up logging and run the worker until SIGTERM/SIGINT."""
        self.verbosity = int(options.get("verbosity", 1))
        threads = options.get("threads", 1)
        if not isinstance(threads, int) or threads < 1:
            raise CommandError(f"--threads is {threads!r}; it must be 1 or more.")
        alias = options.get("layer") or DEFAULT_CHANNEL_LAYER
        try:
            channel_layer = channel_layers[alias]
        except InvalidChannelLayerError as exc:
            raise CommandError(str(exc)) from exc
        if channel_layer.local_only():
            raise CommandError(
                f"Channel layer {alias!r} is the in-memory layer, which cannot span "
                "processes, so a separate runworker would never see any message. Use a "
                "cross-process layer such as asgi_redis.RedisChannelLayer or "
                "asgi_ipc.IPCChannelLayer in CHANNEL_LAYERS, or run everything in one "
                "process with runserver."
            )
        self._setup_logging()
        self._install_static_consumer(channel_layer)
        worker_kwargs: dict[str, Any] = {
            "channel_layer": channel_layer,
            "callback": self.consumer_called if self.verbosity > 1 else None,
            "only_channels": options.get("only_channels"),
            "exclude_channels": options.get("exclude_channels"),
        }
        if threads == 1:
            logger.info("Using single-threaded worker.")
            worker: Worker = Worker(**worker_kwargs)
        else:
            logger.info("Using multi-threaded worker, %s thread(s).", threads)
            worker = WorkerGroup(n_threads=threads, **worker_kwargs)
        try:
            worker.listen_channels()
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        logger.info("Running worker against channel layer %s", channel_layer)
        worker_process_ready.send(sender=worker)
        worker.ready()
        worker.run()
        logger.info("Worker stopped.")

    def _setup_logging(self) -> None:
        level = logging.WARNING
        if self.verbosity == 1:
            level = logging.INFO
        elif self.verbosity > 1:
            level = logging.DEBUG
        handler = logging.StreamHandler(self.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        channels_logger = logging.getLogger("channels")
        channels_logger.addHandler(handler)
        channels_logger.setLevel(level)

    def _install_static_consumer(self, channel_layer: Any) -> None:
        """Serve static files from the worker under DEBUG, like runserver does."""
        if not (settings.DEBUG and apps.is_installed("django.contrib.staticfiles")):
            return
        if importlib.util.find_spec("channels.staticfiles") is None:
            logger.warning("channels.staticfiles is not available; not serving static files.")
            return
        consumer_class = importlib.import_module("channels.staticfiles").StaticFilesConsumer
        channel_layer.router.check_default(http_consumer=consumer_class())
        logger.info("Serving static files at %s", settings.STATIC_URL)

    def consumer_called(self, channel: str, message: Message) -> None:
        """Log each message the worker takes (at -v 2)."""
        logger.debug("%s", channel)
