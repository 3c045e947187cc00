"""The delay server loop: take ``asgi.delay`` requests, store them, send them when due.

How this works
--------------
A request on ``asgi.delay`` is ``{"channel": str, "content": dict, "delay": ms}``
(shared/spec/delay.rst). :meth:`DelayWorker.store` checks it and saves a
:class:`~channels.delay.models.DelayedMessage` due ``delay`` ms from now; a
malformed request is logged at WARNING and dropped, never raised.

:meth:`DelayWorker.send_due` sends every stored message whose due date has
passed, oldest first. Each is claimed by deleting its row (only the process
whose DELETE removed the row sends it, so several delay servers can share one
database without sending twice). If the destination is full (``ChannelFull``)
or the layer fails, the message is stored again, due ``retry_delay`` seconds
later. After each pass the earliest remaining due date is read back, so the
loop knows when the next message is due.

:meth:`DelayWorker.step` is one round (receive what is waiting, then send what
is due) and is what tests drive. :meth:`DelayWorker.run` loops until SIGTERM or
SIGINT: when nothing is due within the layer's ``receive_timeout`` it blocks
in ``receive`` (which returns at once when a request arrives); when something
is due sooner it polls the layer every ``poll_interval`` seconds and sends the
message at its due time, so delivery is late by at most about
``poll_interval`` plus a database round trip. The database is re-read at least
every ``database_sleep_duration`` seconds (``--sleep``), which picks up rows
other delay servers left. A database or layer error is logged and retried.
"""

from __future__ import annotations

import datetime
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.db import DatabaseError, close_old_connections
from django.db.models import Min
from django.utils import timezone

from channels.delay.models import DelayedMessage, decode_content, encode_content

__all__ = ["DELAY_CHANNEL", "MAX_DELAY_MS", "DelayWorker", "InvalidDelayRequestError"]

logger = logging.getLogger(__name__)

DELAY_CHANNEL = "asgi.delay"
#: The longest delay accepted: one year, in milliseconds.
MAX_DELAY_MS = 366 * 24 * 3600 * 1000


class InvalidDelayRequestError(ValueError):
    """Raise when an ``asgi.delay`` message does not follow the delay protocol."""


class DelayWorker:
    """Store delay requests from ``asgi.delay`` and send them on when they are due."""

    def __init__(
        self,
        channel_layer: Any,
        database_sleep_duration: float = 1.0,
        signal_handlers: bool = True,
        retry_delay: float = 1.0,
        poll_interval: float = 0.02,
        batch_size: int = 100,
        time_fn: Callable[[], datetime.datetime] = timezone.now,
    ) -> None:
        for name, value in (
            ("database_sleep_duration", database_sleep_duration),
            ("retry_delay", retry_delay),
            ("poll_interval", poll_interval),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{name} is {value!r}; it must be a number of seconds > 0.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size is {batch_size!r}; it must be an int >= 1.")
        self.channel_layer = channel_layer
        self.database_sleep_duration = float(database_sleep_duration)
        self.signal_handlers = signal_handlers
        self.retry_delay = float(retry_delay)
        self.poll_interval = float(poll_interval)
        self.batch_size = batch_size
        self.time_fn = time_fn
        self.next_due: datetime.datetime | None = None
        self._stop = threading.Event()

    # Requests -------------------------------------------------------------------------

    def parse(self, content: object) -> tuple[str, dict[str, Any], int]:
        """Return ``(channel, content, delay_ms)`` of a request; raise InvalidDelayRequestError."""
        if not isinstance(content, dict):
            raise InvalidDelayRequestError(
                f"an asgi.delay message must be a dict, got {type(content).__name__}"
            )
        missing = [key for key in ("channel", "content", "delay") if key not in content]
        if missing:
            raise InvalidDelayRequestError(
                f"missing key(s) {missing!r}; send {{'channel': ..., 'content': {{...}}, "
                f"'delay': milliseconds}}"
            )
        channel, message, delay = content["channel"], content["content"], content["delay"]
        if not isinstance(channel, str):
            raise InvalidDelayRequestError(f"'channel' must be a str, got {channel!r:.80}")
        require = getattr(self.channel_layer, "require_channel_name", None)
        if callable(require):
            try:
                require(channel)
            except TypeError as exc:
                raise InvalidDelayRequestError(f"'channel' is not usable: {exc}") from exc
        if not isinstance(message, dict):
            raise InvalidDelayRequestError(
                f"'content' must be a dict of message content, got {message!r:.80}"
            )
        if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= MAX_DELAY_MS:
            raise InvalidDelayRequestError(
                f"'delay' must be an int of milliseconds from 0 to {MAX_DELAY_MS}, got {delay!r}"
            )
        return channel, message, delay

    def store(self, content: object) -> DelayedMessage | None:
        """Save a delay request as a DelayedMessage; log and return None if it is malformed."""
        try:
            channel, message, delay = self.parse(content)
            encoded = encode_content(message)
        except (InvalidDelayRequestError, TypeError, ValueError) as exc:
            logger.warning("Skipping a malformed asgi.delay message (%s): %.200r", exc, content)
            return None
        due = self.time_fn() + datetime.timedelta(milliseconds=delay)
        stored: DelayedMessage = DelayedMessage.objects.create(
            channel_name=channel, content=encoded, due_date=due
        )
        logger.debug("Delaying a message for %s by %s ms", channel, delay)
        self._note_due(due)
        return stored

    def receive(self, block: bool = False) -> int:
        """Store the requests waiting on ``asgi.delay`` (at most batch_size); return how many."""
        count = 0
        while count < self.batch_size and not self.termed:
            channel, content = self.channel_layer.receive(
                [DELAY_CHANNEL], block=block and count == 0
            )
            if channel is None:
                break
            count += 1
            self.store(content)
        return count

    # Sending -----------------------------------------------------------------------------

    def send_due(self) -> int:
        """Send every stored message that is due; return how many were sent."""
        sent = 0
        while True:
            now = self.time_fn()
            due = list(DelayedMessage.objects.filter(due_date__lte=now)[: self.batch_size])
            for message in due:
                sent += self._send(message, now)
            if len(due) < self.batch_size:
                break
        self.refresh_next_due()
        return sent

    def refresh_next_due(self) -> datetime.datetime | None:
        """Read the earliest due date in the database into ``next_due`` and return it."""
        self.next_due = DelayedMessage.objects.aggregate(first=Min("due_date"))["first"]
        return self.next_due

    def _send(self, message: DelayedMessage, now: datetime.datetime) -> int:
        claimed, _ = DelayedMessage.objects.filter(pk=message.pk).delete()
        if not claimed:
            return 0  # another delay server took it
        try:
            content = decode_content(message.content)
        except ValueError as exc:
            logger.error("Dropping stored message %s: its content is unreadable (%s)", message, exc)
            return 0
        try:
            self.channel_layer.send(message.channel_name, content)
        except self.channel_layer.ChannelFull:
            self._reschedule(message, now, "the channel is full")
            return 0
        except (TypeError, ValueError) as exc:  # includes MessageTooLarge-style rejections
            logger.error("Dropping the delayed message for %s: %s", message.channel_name, exc)
            return 0
        except Exception as exc:
            self._reschedule(message, now, f"the layer failed ({type(exc).__name__}: {exc})")
            return 0
        lateness = (now - message.due_date).total_seconds()
        logger.debug("Sent a delayed message to %s (%.3fs late)", message.channel_name, lateness)
        return 1

    def _reschedule(self, message: DelayedMessage, now: datetime.datetime, reason: str) -> None:
        due = now + datetime.timedelta(seconds=self.retry_delay)
        DelayedMessage.objects.create(
            channel_name=message.channel_name,
            content=message.content,
            due_date=due,
            attempts=message.attempts + 1,
        )
        logger.warning(
            "Could not send a delayed message to %s (%s); retrying in %.1fs (attempt %s)",
            message.channel_name,
            reason,
            self.retry_delay,
            message.attempts + 1,
        )

    def _note_due(self, due: datetime.datetime) -> None:
        if self.next_due is None or due < self.next_due:
            self.next_due = due

    # The loop ----------------------------------------------------------------------------

    def step(self, block: bool = False) -> int:
        """Take the waiting requests, then send what is due; return how many were sent."""
        self.receive(block=block)
        return self.send_due()

    @property
    def termed(self) -> bool:
        """Return True once the server was asked to stop."""
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask ``run`` to return (thread-safe)."""
        self._stop.set()

    def sigterm_handler(self, signo: int, frame: FrameType | None) -> None:
        """Stop the loop on SIGTERM/SIGINT."""
        logger.info("Shutdown signal received; stopping the delay server")
        self.stop()

    def run(self) -> None:
        """Serve until :meth:`stop`, SIGTERM or SIGINT."""
        if self.signal_handlers and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.sigterm_handler)
            signal.signal(signal.SIGINT, self.sigterm_handler)
        block_limit = float(getattr(self.channel_layer, "receive_timeout", 5.0))
        next_poll = 0.0
        failures = 0
        while not self.termed:
            try:
                if time.monotonic() >= next_poll or self._is_due():
                    close_old_connections()
                    self.send_due()
                    next_poll = time.monotonic() + self.database_sleep_duration
                wait = self._seconds_to_next_due()
                if wait is None or wait > block_limit:
                    self.receive(block=True)
                elif not self.receive(block=False):
                    self._stop.wait(min(max(wait, 0.0), self.poll_interval))
                failures = 0
            except DatabaseError as exc:
                failures += 1
                self._back_off("The database", exc, failures)
            except Exception as exc:
                failures += 1
                self._back_off("The channel layer", exc, failures)
        logger.info("Delay server stopped")

    def _is_due(self) -> bool:
        return self.next_due is not None and self.next_due <= self.time_fn()

    def _seconds_to_next_due(self) -> float | None:
        if self.next_due is None:
            return None
        return (self.next_due - self.time_fn()).total_seconds()

    def _back_off(self, what: str, exc: Exception, failures: int) -> None:
        delay = min(5.0, 0.1 * 2 ** min(failures, 6))
        logger.warning(
            "%s failed (%s: %s); retrying in %.1fs", what, type(exc).__name__, exc, delay
        )
        close_old_connections()
        self._stop.wait(delay)
