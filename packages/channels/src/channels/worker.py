"""The worker: take messages off the channel layer and run their consumers.

How this works
--------------
A :class:`Worker` listens on every channel its layer's router handles
(filtered by ``only_channels``/``exclude_channels`` globs) and loops:
blocking receive, then :meth:`Worker.dispatch` the message. ``dispatch`` is
the unit tests drive: build the ``Message``, find the route, send
``consumer_started`` (opens the send buffer, refreshes DB connections), run the
consumer, handle what it raised, send ``consumer_finished`` (flushes the
buffer, refreshes DB connections again). Nothing a consumer or an exception
handler does can end the loop: every failure is logged and the worker carries
on with the next message.

What a consumer may raise:
- ``ConsumeLater``: the message goes back on its channel, at most
  ``message_retries`` times, then it is dropped with a warning.
- ``DenyConnection`` on ``websocket.connect``: the socket is closed. Anywhere
  else it is logged and ignored.
- ``ChannelSocketException``: its ``run(message)`` acts on the socket.
- Anything else: logged with its traceback.

A consumer's channel sends are kept and handed to the layer with the next
receive (``send_many_and_receive``: one Redis round trip for both). On a layer
that offers ``receive_prefetched`` (asgi_redis), that receive may take up to
``prefetch`` messages of a backlog at once, never more than half of it; the
worker handles the extra ones without asking the layer, and the sends of all of
them go out together with the next receive, unless one has waited
``channels._kept_sends.MAX_HOLD`` seconds (10 ms), when a watcher thread sends
it (see :mod:`channels._kept_sends`). ``prefetch=1`` takes one message at a
time.

Layer errors (a Redis restart, a broken connection) are retried with
exponential back-off up to ``max_backoff`` seconds. SIGTERM/SIGINT set
``termed``: the message in hand and any fetched with it are finished, no new
one is taken, and ``run`` returns. A blocking receive returns within the layer's bounded timeout, so
shutdown takes at most that long. :class:`WorkerGroup` runs extra workers in
threads, restarting any that die, and stops them all on the signal.
"""

from __future__ import annotations

import fnmatch
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from types import FrameType
from typing import Any

from channels._kept_sends import KeptSendsWatcher
from channels.exceptions import ChannelSocketException, ConsumeLater, DenyConnection
from channels.message import Message, pending_message_store
from channels.signals import consumer_finished, consumer_started, worker_ready
from channels.utils import name_that_thing

__all__ = ["Worker", "WorkerGroup"]

logger = logging.getLogger(__name__)

Callback = Callable[[str, Message], Any]

#: Most messages one receive takes from a backlog (see the module docstring).
DEFAULT_PREFETCH = 4
#: Most sends kept across prefetched messages before they go out with a round trip.
MAX_KEPT = 16


class Worker:
    """Run consumers for the messages arriving on a channel layer's routed channels."""

    def __init__(
        self,
        channel_layer: Any,
        callback: Callback | None = None,
        message_retries: int = 10,
        signal_handlers: bool = True,
        only_channels: Sequence[str] | None = None,
        exclude_channels: Sequence[str] | None = None,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        prefetch: int = DEFAULT_PREFETCH,
    ) -> None:
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 1:
            raise ValueError(f"prefetch is {prefetch!r}; it must be a positive int, such as 4.")
        if not hasattr(channel_layer, "router"):
            raise TypeError(
                f"Worker needs a channel layer wrapper with a router, such as "
                f"channels.channel_layers['default'], got {channel_layer!r}."
            )
        self.channel_layer = channel_layer
        self.callback = callback
        self.message_retries = message_retries
        self.signal_handlers = signal_handlers
        self.only_channels = list(only_channels or [])
        self.exclude_channels = list(exclude_channels or [])
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.prefetch = prefetch
        self._watcher: KeptSendsWatcher | None = None
        # The layer's hand-out of messages it took ahead (None: this worker takes one at a time).
        self._take_prefetched: Callable[[list[str]], tuple[Any, Any]] | None = (
            getattr(channel_layer, "receive_prefetched", None) if prefetch > 1 else None
        )
        self.in_job = False
        self._stop = threading.Event()
        self._ready_sent = False

    # Lifecycle ------------------------------------------------------------------

    @property
    def termed(self) -> bool:
        """Return True once the worker was asked to stop."""
        return self._stop.is_set()

    @termed.setter
    def termed(self, value: bool) -> None:
        if value:
            self._stop.set()
        else:
            self._stop.clear()

    def install_signal_handler(self) -> None:
        """Stop gracefully on SIGTERM and SIGINT (only possible in the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            logger.debug("Not installing signal handlers outside the main thread")
            return
        signal.signal(signal.SIGTERM, self.sigterm_handler)
        signal.signal(signal.SIGINT, self.sigterm_handler)

    def sigterm_handler(self, signo: int, stack_frame: FrameType | None) -> None:
        """Ask the worker to stop after the message in hand."""
        self.termed = True
        if self.in_job:
            logger.info("Shutdown signal received while busy; finishing the current message")
        else:
            logger.info("Shutdown signal received while idle; stopping")

    def ready(self) -> None:
        """Send ``worker_ready`` (once); ``run`` calls this if nobody did before."""
        if not self._ready_sent:
            self._ready_sent = True
            worker_ready.send(sender=self)

    def apply_channel_filters(self, channels: Iterable[str]) -> list[str]:
        """Return ``channels`` limited by the only/exclude glob patterns, sorted."""
        names = set(channels)
        if self.only_channels:
            names = {
                name
                for name in names
                if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.only_channels)
            }
        if self.exclude_channels:
            names = {
                name
                for name in names
                if not any(fnmatch.fnmatchcase(name, pattern) for pattern in self.exclude_channels)
            }
        return sorted(names)

    def listen_channels(self) -> list[str]:
        """Return the channels to listen on; raise ValueError if the filters leave none."""
        routed = self.channel_layer.router.channels
        channels = self.apply_channel_filters(routed)
        if not channels:
            raise ValueError(
                f"No channels left to listen on: the routing handles {sorted(routed)!r}, "
                f"only_channels={self.only_channels!r}, "
                f"exclude_channels={self.exclude_channels!r}."
            )
        return channels

    def run(self) -> None:
        """Take and dispatch messages until ``termed`` is set."""
        if self.signal_handlers:
            self.install_signal_handler()
        channels = self.listen_channels()
        logger.info("Listening on channels %s", ", ".join(channels))
        self.ready()
        pending_message_store.set_deferring(True)
        try:
            while not self.termed:
                received = self.receive(channels)
                if received is None:
                    continue
                self.dispatch(*received)
            self._finish_prefetched(channels)
        finally:
            if self._watcher is not None:
                self._watcher.stop()
                self._watcher = None
            pending_message_store.set_deferring(False)  # sends anything still kept

    # One message --------------------------------------------------------------

    def receive(self, channels: list[str], block: bool = True) -> tuple[str, dict[str, Any]] | None:
        """Return the next ``(channel, content)``, or None; retry layer errors with back-off."""
        delay = 0.0
        while not self.termed:
            started = time.monotonic()
            try:
                channel, content = self._receive_once(channels, block)
            except TypeError:
                raise  # bad channel names: a programming error, not a layer outage
            except Exception as exc:
                delay = min(self.max_backoff, max(self.min_backoff, delay * 2))
                logger.warning(
                    "Channel layer %s failed to receive (%s: %s); retrying in %.1fs",
                    self.channel_layer,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                self._stop.wait(delay)
                continue
            if delay:
                logger.info("Channel layer %s is receiving again", self.channel_layer)
            if channel is None:
                if block and time.monotonic() - started < 0.01:
                    # A layer that cannot block: do not spin.
                    self._stop.wait(0.01)
                return None
            return channel, content
        return None

    def _receive_once(self, channels: list[str], block: bool) -> tuple[Any, Any]:
        """Receive, first handing over the last consumers' kept sends in the same call."""
        layer = self.channel_layer
        take_prefetched = self._take_prefetched
        prefetching = take_prefetched is not None
        if take_prefetched is not None and pending_message_store.kept_count() < MAX_KEPT:
            # The layer took this message with the last one: no round trip, so
            # the kept sends wait for the next one (a watcher bounds the wait).
            channel, content = take_prefetched(channels)
            if channel is not None:
                if pending_message_store.kept_count():
                    self._watch_kept_sends()
                return channel, content
        kept = pending_message_store.take_deferred()
        if kept and kept[0][0].channel_layer is not layer:
            pending_message_store.send_now(list(kept))
            kept = []
        if not kept and not prefetching:
            return layer.receive(channels, block=block)  # type: ignore[no-any-return]
        pairs = [(sender.name, message) for sender, message in kept]
        try:
            if prefetching:
                results, received = layer.send_many_and_receive(
                    pairs, channels, block, limit=self.prefetch
                )
            else:
                results, received = layer.send_many_and_receive(pairs, channels, block)
        except TypeError:
            raise
        except Exception:
            if kept:
                # Unknown whether the layer queued them; at most once, so they are not resent.
                logger.error(
                    "The layer failed while sending %d replies; they may be lost", len(kept)
                )
            raise
        pending_message_store.report(kept, results)
        return received  # type: ignore[no-any-return]

    def _watch_kept_sends(self) -> None:
        """Make sure a watcher sends this thread's kept sends if the next consumer is slow."""
        if self._watcher is None:
            self._watcher = KeptSendsWatcher(
                pending_message_store.kept_slot(), pending_message_store.send_now
            )
        self._watcher.kept()

    def _finish_prefetched(self, channels: list[str]) -> None:
        """Dispatch the messages the layer took ahead for this worker before stopping."""
        take = self._take_prefetched
        while take is not None:
            channel, content = take(channels)
            if channel is None:
                return
            self.dispatch(channel, content)

    def dispatch(self, channel: str, content: dict[str, Any]) -> None:
        """Handle one message: route it, run its consumer, and never raise."""
        self.in_job = True
        try:
            self._dispatch(channel, content)
        except Exception:
            logger.exception("Error handling a message on %s; the worker carries on", channel)
        finally:
            self.in_job = False

    def _dispatch(self, channel: str, content: dict[str, Any]) -> None:
        message = Message(content, channel, self.channel_layer)
        logger.debug("Got message on %s (reply %s)", channel, content.get("reply_channel"))
        if self.callback is not None:
            try:
                self.callback(channel, message)
            except Exception:
                logger.exception("The worker callback failed for a message on %s", channel)
        match = self.channel_layer.router.match(message)
        if match is None:
            logger.error("Could not find match for message on %s! Check your routing.", channel)
            return
        consumer, kwargs = match
        if logger.isEnabledFor(logging.DEBUG):  # naming the consumer costs more than the check
            logger.debug("Dispatching message on %s to %s", channel, name_that_thing(consumer))
        self.run_consumer(consumer, message, kwargs)

    def run_consumer(
        self, consumer: Callable[..., Any], message: Message, kwargs: dict[str, Any]
    ) -> None:
        """Run ``consumer`` between consumer_started and consumer_finished, handling its errors."""
        _send_robust(consumer_started, environ={}, message=message)
        try:
            consumer(message, **kwargs)
        except DenyConnection:
            self._deny(consumer, message)
        except ChannelSocketException as exc:
            try:
                exc.run(message)
            except Exception:
                logger.exception(
                    "%s.run() failed for a message on %s", type(exc).__name__, message.channel
                )
        except ConsumeLater:
            self.requeue(message)
        except Exception:
            logger.exception(
                "Error processing message with consumer %s:", name_that_thing(consumer)
            )
        finally:
            _send_robust(consumer_finished, message=message)

    def _deny(self, consumer: Callable[..., Any], message: Message) -> None:
        if message.channel.name != "websocket.connect":
            logger.error(
                "%s raised DenyConnection for a message on %s; it only applies to "
                "websocket.connect consumers, so it was ignored.",
                name_that_thing(consumer),
                message.channel,
            )
        elif message.reply_channel is None:
            logger.error("DenyConnection raised for a websocket.connect with no reply_channel")
        else:
            message.reply_channel.send({"close": True})

    def requeue(self, message: Message) -> None:
        """Put ``message`` back on its channel (ConsumeLater), up to ``message_retries`` times."""
        content = message.content
        retries = int(content.get("__retries__", 0)) + 1
        if retries > self.message_retries:
            logger.warning(
                "Dropping a message on %s after %s retries (ConsumeLater): %.100r",
                message.channel,
                self.message_retries,
                content,
            )
            return
        content["__retries__"] = retries
        try:
            self.channel_layer.send(message.channel.name, content)
        except Exception as exc:
            logger.warning(
                "Could not re-queue a message on %s (%s: %s); it is dropped",
                message.channel,
                type(exc).__name__,
                exc,
            )


class WorkerGroup(Worker):
    """Run ``n_threads`` workers: this one in the calling thread, the rest in threads."""

    def __init__(self, *args: Any, n_threads: int = 2, **kwargs: Any) -> None:
        if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
            raise ValueError(f"n_threads is {n_threads!r}; it must be a positive int.")
        super().__init__(*args, **kwargs)
        kwargs["signal_handlers"] = False
        self.workers = [Worker(*args, **kwargs) for _ in range(n_threads - 1)]
        self.threads: list[threading.Thread] = []

    @property
    def termed(self) -> bool:
        """Return True once the group was asked to stop."""
        return self._stop.is_set()

    @termed.setter
    def termed(self, value: bool) -> None:
        if value:
            self._stop.set()
        else:
            self._stop.clear()
        for worker in getattr(self, "workers", []):
            worker.termed = value

    def ready(self) -> None:
        """Send ``worker_ready`` for every worker of the group."""
        super().ready()
        for worker in self.workers:
            worker.ready()

    def run(self) -> None:
        """Start the thread workers, run this one, then wait for the threads to finish."""
        self.listen_channels()  # fail early, before any thread starts
        self.threads = [
            threading.Thread(
                target=self._supervise, args=(worker,), name=f"channels-worker-{i}", daemon=True
            )
            for i, worker in enumerate(self.workers, start=1)
        ]
        for thread in self.threads:
            thread.start()
        try:
            super().run()
        finally:
            self.termed = True
            for thread in self.threads:
                thread.join()

    def _supervise(self, worker: Worker) -> None:
        delay = self.min_backoff
        while not worker.termed:
            try:
                worker.run()
            except Exception:
                logger.exception("A worker thread died; restarting it in %.1fs", delay)
                worker._stop.wait(delay)
                delay = min(self.max_backoff, delay * 2)


def _send_robust(signal_: Any, **kwargs: Any) -> None:
    for receiver, result in signal_.send_robust(sender=Worker, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "Signal receiver %s failed: %s",
                name_that_thing(receiver),
                result,
                exc_info=(type(result), result, result.__traceback__),
            )
