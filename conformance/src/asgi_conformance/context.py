"""What a check works with: the layer, fresh names, bounded receives, assertions.

Every run picks a random channel prefix, and every name a check asks for is
unique within the run, so checks never see each other's messages even on a
shared server without ``flush``. Receives are bounded: a check retries a
non-blocking receive ``receive_tries`` times (sharded layers look at one shard
per call) and, when it expects a message, then blocks up to ``receive_tries``
times more, so an empty channel costs at most the layer's own receive timeout.
"""

from __future__ import annotations

import itertools
import logging
import random
import string
import threading
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from asgi_conformance.profile import LayerProfile
from asgi_conformance.registry import CheckFailed, CheckSkipped

__all__ = ["CheckContext", "run_prefix"]

logger = logging.getLogger(__name__)

Received = tuple[str, dict[str, Any]] | tuple[None, None]

#: Capacities above this are too slow to fill in a check.
_MAX_CAPACITY = 1000


def run_prefix() -> str:
    """Return a random prefix for the channel names of one run."""
    return "cf" + "".join(random.choices(string.ascii_lowercase, k=8))


class CheckContext:
    """The layer under test plus the helpers checks use."""

    def __init__(self, layer: Any, profile: LayerProfile, check_id: str, prefix: str) -> None:
        self.layer = layer
        self.profile = profile
        self.check_id = check_id
        self.prefix = prefix
        self._counter = itertools.count()

    # Names --------------------------------------------------------------------

    def name(self, label: str = "ch") -> str:
        """Return a channel or group name no other check of this run uses."""
        _area, _, check = self.check_id.partition(".")
        return f"{self.prefix}.{check[:40]}.{label}{next(self._counter)}"

    # Skipping -------------------------------------------------------------------

    def skip(self, reason: str) -> NoReturn:
        """Stop the check as skipped, giving ``reason``."""
        raise CheckSkipped(reason)

    def has_extension(self, extension: str) -> bool:
        """Return True if the layer declares ``extension``."""
        return extension in (getattr(self.layer, "extensions", None) or ())

    def require_extension(self, *extensions: str) -> None:
        """Skip unless the layer declares every one of ``extensions``."""
        for extension in extensions:
            if not self.has_extension(extension):
                self.skip(f"layer does not declare the {extension!r} extension")

    def require_capacity(self, minimum: int = 1) -> int:
        """Return the configured capacity, or skip when unknown, too small or too big."""
        capacity = self.profile.capacity
        if capacity is None:
            self.skip("the profile gives no capacity")
        if capacity < minimum:
            self.skip(f"capacity {capacity} is below the {minimum} this check needs")
        if capacity > _MAX_CAPACITY:
            self.skip(f"capacity {capacity} is too big to fill quickly (over {_MAX_CAPACITY})")
        return capacity

    def require_time(self, setting: str) -> float:
        """Return the ``expiry``/``group_expiry`` to wait out, or skip when that is too slow."""
        value = getattr(self.profile, setting)
        if value is None:
            self.skip(f"the profile gives no {setting}")
        cost = self.profile.sleep_for(value)
        if cost > self.profile.max_sleep:
            self.skip(
                f"{setting} is {value} s and the profile has no clock hook; waiting it out "
                f"would take over max_sleep={self.profile.max_sleep} s (run the layer class "
                "with short settings, or give the profile a clock)"
            )
        return float(value)

    def advance(self, seconds: float) -> None:
        """Let slightly more than ``seconds`` pass for the layer (clock or sleep)."""
        self.profile.advance(seconds)

    # Receiving ------------------------------------------------------------------

    def receive(self, channels: Iterable[str]) -> Received:
        """Receive without blocking, retrying ``receive_tries`` times; may be (None, None)."""
        names = list(channels)
        for _ in range(self.profile.receive_tries):
            channel, message = self.layer.receive(names, block=False)
            if channel is not None:
                return channel, message
        return None, None

    def receive_one(self, channels: Iterable[str], what: str = "a message") -> tuple[str, Any]:
        """Return a message that must be waiting on one of ``channels``; fail if none comes."""
        names = list(channels)
        channel, message = self.receive(names)
        for _ in range(self.profile.receive_tries):
            if channel is not None:
                break
            channel, message = self.layer.receive(names, block=True)
        if channel is None:
            raise CheckFailed(
                f"expected {what} on {names}, but receive returned (None, None) after "
                f"{self.profile.receive_tries} non-blocking and blocking tries"
            )
        return channel, message

    def assert_empty(self, channels: Iterable[str], why: str = "") -> None:
        """Fail if a non-blocking receive on ``channels`` returns a message."""
        names = list(channels)
        channel, message = self.receive(names)
        if channel is not None:
            suffix = f" ({why})" if why else ""
            raise CheckFailed(
                f"expected no message on {names}{suffix}, got {channel!r}: {message!r:.200}"
            )

    def wait_for_message(self, receive: Callable[[], Received], sent: threading.Event) -> Received:
        """Call a blocking ``receive`` until it returns a message or it is clearly lost.

        A receive that returns empty-handed before ``sent`` is set proves nothing
        (the sender may be slow); after ``sent``, ``receive_tries`` empty receives
        mean the message did not arrive. The caller bounds the total time.
        """
        result: Received = (None, None)
        tries_after_send = 0
        while tries_after_send < self.profile.receive_tries:
            sent_before = sent.is_set()
            result = receive()
            if result[0] is not None:
                break
            tries_after_send += sent_before
        return result

    def drain(self, channels: Iterable[str], limit: int = 10_000) -> list[tuple[str, Any]]:
        """Receive without blocking until the channels look empty; return what came."""
        names = list(channels)
        found: list[tuple[str, Any]] = []
        while len(found) < limit:
            channel, message = self.receive(names)
            if channel is None:
                break
            found.append((channel, message))
        return found

    # Assertions -------------------------------------------------------------------

    @staticmethod
    def expect(condition: object, message: str) -> None:
        """Fail with ``message`` unless ``condition`` is true."""
        if not condition:
            raise CheckFailed(message)

    @staticmethod
    def expect_equal(got: object, expected: object, what: str, exact_type: bool = True) -> None:
        """Fail unless ``got == expected`` (and, if ``exact_type``, of the same type)."""
        if got != expected or (exact_type and type(got) is not type(expected)):
            raise CheckFailed(f"{what}: expected {expected!r:.300}, got {got!r:.300}")

    @staticmethod
    def expect_raises(
        exc_type: type[BaseException] | tuple[type[BaseException], ...],
        what: str,
        function: Callable[..., Any],
        *args: Any,
    ) -> BaseException:
        """Fail unless ``function(*args)`` raises ``exc_type``; return the exception."""
        try:
            function(*args)
        except exc_type as exc:
            return exc
        except Exception as exc:
            raise CheckFailed(
                f"{what}: expected {_names(exc_type)}, got {type(exc).__name__}: {exc}"
            ) from exc
        raise CheckFailed(f"{what}: expected {_names(exc_type)}, but nothing was raised")

    # Threads ----------------------------------------------------------------------

    def in_thread(self, function: Callable[[], Any], what: str) -> Any:
        """Run ``function`` in a thread; fail if it takes over ``block_limit`` seconds."""
        result: list[Any] = []
        errors: list[BaseException] = []

        def target() -> None:
            try:
                result.append(function())
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=target, name=f"conformance-{self.check_id}", daemon=True)
        thread.start()
        thread.join(self.profile.block_limit)
        if thread.is_alive():
            raise CheckFailed(f"{what} did not return within {self.profile.block_limit} s")
        if errors:
            raise errors[0]
        return result[0]


def _names(exc_type: type[BaseException] | tuple[type[BaseException], ...]) -> str:
    if isinstance(exc_type, tuple):
        return " or ".join(item.__name__ for item in exc_type)
    return exc_type.__name__
