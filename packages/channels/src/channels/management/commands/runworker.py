"""``manage.py runworker``: run consumers for a cross-process channel layer."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels.management.layer_commands import (
    add_layer_argument,
    cross_process_layer,
    log_to_stream,
)
from channels.message import Message
from channels.signals import worker_process_ready
from channels.worker import DEFAULT_PREFETCH, Worker, WorkerGroup

__all__ = ["Command"]

logger = logging.getLogger(__name__)


class Command(BaseCommand):  # type: ignore[misc]
    """Run a worker that takes messages off the channel layer and runs their consumers."""

    help = "Runs a Channels worker: consumes messages from a channel layer and runs consumers."
    leave_locale_alone = True

    def add_arguments(self, parser: CommandParser) -> None:
        """Add --layer, --only-channels, --exclude-channels, --prefetch and --threads."""
        super().add_arguments(parser)
        add_layer_argument(parser)
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
            "--prefetch",
            dest="prefetch",
            type=int,
            default=DEFAULT_PREFETCH,
            help=(
                "Most messages one receive may take from a backlog, on layers that "
                "support it (asgi_redis); 1 takes one at a time (default: %(default)s)."
            ),
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
        prefetch = options.get("prefetch", DEFAULT_PREFETCH)
        if not isinstance(prefetch, int) or prefetch < 1:
            raise CommandError(f"--prefetch is {prefetch!r}; it must be 1 or more.")
        channel_layer = cross_process_layer(
            options.get("layer"),
            "a separate runworker would never see any message. Use a "
            "cross-process layer such as asgi_redis.RedisChannelLayer or "
            "asgi_ipc.IPCChannelLayer in CHANNEL_LAYERS, or run everything in one "
            "process with runserver.",
        )
        log_to_stream("channels", self.stderr, self.verbosity)
        self._install_static_consumer(channel_layer)
        worker_kwargs: dict[str, Any] = {
            "channel_layer": channel_layer,
            "callback": self.consumer_called if self.verbosity > 1 else None,
            "only_channels": options.get("only_channels"),
            "exclude_channels": options.get("exclude_channels"),
            "prefetch": prefetch,
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
