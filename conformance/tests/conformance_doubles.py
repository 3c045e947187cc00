"""Profiles for the in-memory layer and deliberately broken layers for the self-tests.

Each broken layer is the in-memory layer with one rule broken; BROKEN maps it
to the check(s) aimed at that rule. The module is importable (conftest puts
this directory on sys.path) so runner and plugin subprocesses can name
``conformance_doubles:<attr>`` as their target.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from asgi_conformance import LayerProfile, ManualClock
from asgiref.inmemory import ChannelLayer

TESTS_DIR = Path(__file__).resolve().parent
SETTINGS: dict[str, Any] = {"expiry": 1, "group_expiry": 3, "capacity": 10, "receive_timeout": 1}


def clocked_profile(cls: type[ChannelLayer] = ChannelLayer, **overrides: Any) -> LayerProfile:
    """Return a profile of ``cls`` with short settings and a manual clock."""
    clock = ManualClock()
    options = {**SETTINGS, "time_fn": clock}

    def configure(extra: Any) -> ChannelLayer:
        return cls(**{**options, **extra})

    fields: dict[str, Any] = {
        "expiry": SETTINGS["expiry"],
        "group_expiry": SETTINGS["group_expiry"],
        "capacity": SETTINGS["capacity"],
        "clock": clock,
        "configure": configure,
        "block_limit": 20.0,
        "name": cls.__name__,
    }
    fields.update(overrides)
    return LayerProfile(factory=lambda: cls(**options), **fields)


def inmemory_profile() -> LayerProfile:
    """Return the in-memory layer's profile (a target for the plugin and runner)."""
    return clocked_profile()


def model_profile(cls: type[ChannelLayer] = ChannelLayer) -> LayerProfile:
    """Return an in-memory profile with a small capacity for the state machine."""
    clock = ManualClock()
    return LayerProfile(
        factory=lambda: cls(capacity=3, time_fn=clock, receive_timeout=0.2),
        expiry=60,
        group_expiry=86400,
        capacity=3,
        clock=clock,
    )


class DropsMessagesLayer(ChannelLayer):
    """Silently drops every second message sent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sends = itertools.count()

    def send(self, channel: str, message: dict[str, Any]) -> None:
        if next(self._sends) % 2 == 1:
            self.require_channel_name(channel)
            return
        super().send(channel, message)


class IgnoresCapacityLayer(ChannelLayer):
    """Never raises ChannelFull."""

    def _lookup_capacity(self, channel: str) -> int:
        return 10**9


class AliasesMessagesLayer(ChannelLayer):
    """Queues the caller's dict itself instead of a copy."""

    def check_message(self, message: Any) -> tuple[dict[str, Any], int]:
        _copy, size = super().check_message(message)
        self.check_size(size)
        return message, size


class SharedGroupCopyLayer(ChannelLayer):
    """Gives every group member the same dict object."""

    def send_group(self, group: str, message: dict[str, Any]) -> None:
        self.require_group_name(group)
        copied, _size = self.check_message(message)
        with self._lock:
            now = self.time_fn()
            for channel in self._live_members(group, now):
                self._enqueue(channel, copied, now)


class KeepsDiscardedLayer(ChannelLayer):
    """Ignores group_discard."""

    def group_discard(self, group: str, channel: str) -> None:
        self.require_group_name(group)
        self.require_channel_name(channel)


class NeverExpiresLayer(ChannelLayer):
    """Keeps messages forever."""

    def _live_queue(self, key: str, now: float) -> Any:
        return super()._live_queue(key, now - 10**6)


class KeepsExpiredMembersLayer(ChannelLayer):
    """Does not drop a member whose message expired."""

    def _evict(self, channel: str) -> None:
        return None


class UnfairLayer(ChannelLayer):
    """Always serves the first channel in the list that has a message."""

    def _pop_first(self, names: list[str]) -> Any:
        self._rotation = 0
        return super()._pop_first(names)


class AcceptsFullNameLayer(ChannelLayer):
    """Lets receive read a full x!y name."""

    def require_receive_names(self, channels: Iterable[str]) -> list[str]:
        return list(channels)


class AcceptsBadNewChannelLayer(ChannelLayer):
    """Makes new channels from any pattern."""

    def require_new_channel_pattern(self, pattern: object) -> str:
        return str(pattern)


class NoSizeLimitLayer(ChannelLayer):
    """Never raises MessageTooLarge."""

    def check_size(self, size: int) -> None:
        return None


class BytesToTextLayer(ChannelLayer):
    """Decodes bytes values to str, as a careless serializer might."""

    def check_message(self, message: Any) -> tuple[dict[str, Any], int]:
        copied, size = super().check_message(message)
        return _decoded(copied), size


def _decoded(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, dict):
        return {key: _decoded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decoded(item) for item in value]
    return value


class GroupSendRaisesLayer(ChannelLayer):
    """Lets ChannelFull escape from send_group."""

    def send_group(self, group: str, message: dict[str, Any]) -> None:
        for channel in self.group_channels(group):
            self.send(channel, message)


class UndeclaredAsyncLayer(ChannelLayer):
    """Has receive_async but does not list 'async' in extensions."""

    extensions = ["groups", "flush", "statistics"]


class MiscountsLayer(ChannelLayer):
    """Counts each message twice in its statistics."""

    def _enqueue(self, channel: str, message: dict[str, Any], now: float) -> bool:
        accepted = super()._enqueue(channel, message, now)
        if accepted:
            self._counters.message(self.non_local_name(channel))
        return accepted


class FullNameCapacityLayer(ChannelLayer):
    """Matches channel_capacity patterns against the full x!y name."""

    def _lookup_capacity(self, channel: str) -> int:
        for pattern, capacity in self.channel_capacity:
            if pattern.match(channel + "~"):
                return capacity
        return self.capacity


class HangingReceiveLayer(ChannelLayer):
    """A blocking receive on an empty channel never returns."""

    def receive(self, channels: Iterable[str], block: bool = False) -> Any:
        found = super().receive(channels, block=False)
        if found[0] is None and block:
            threading.Event().wait()
        return found


class DuplicatesUnderLoadLayer(ChannelLayer):
    """Hands the same message to two readers now and then (no atomic pop)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._receives = itertools.count()

    def _pop_first(self, names: list[str]) -> Any:
        if next(self._receives) % 7 == 3:
            for name in names:
                queue = self._live_queue(name, self.time_fn())
                if queue:
                    _expires, channel, message = queue[0]
                    return channel, dict(message)
        return super()._pop_first(names)


#: Broken layer -> the checks that must fail against it.
BROKEN: dict[type[ChannelLayer], tuple[str, ...]] = {
    DropsMessagesLayer: ("core.send_receive_several", "concurrency.threads"),
    IgnoresCapacityLayer: ("capacity.channel", "capacity.process_specific"),
    AliasesMessagesLayer: ("core.message_isolation",),
    SharedGroupCopyLayer: ("groups.message_isolation",),
    KeepsDiscardedLayer: ("groups.send", "groups.channels"),
    NeverExpiresLayer: ("expiry.message", "capacity.expired_free_space"),
    KeepsExpiredMembersLayer: ("expiry.member_dropped",),
    UnfairLayer: ("core.fairness",),
    AcceptsFullNameLayer: ("core.process_specific_full_name",),
    AcceptsBadNewChannelLayer: ("core.new_channel_failures",),
    NoSizeLimitLayer: ("serialization.too_large", "serialization.too_large_group"),
    BytesToTextLayer: ("serialization.strings",),
    GroupSendRaisesLayer: ("capacity.group_send", "capacity.group_send_overflow"),
    UndeclaredAsyncLayer: ("async.declared",),
    MiscountsLayer: ("statistics.counts", "statistics.process_specific"),
    FullNameCapacityLayer: ("capacity.channel_capacity",),
    HangingReceiveLayer: ("core.blocking_receive_empty",),
    DuplicatesUnderLoadLayer: ("concurrency.threads",),
}


def broken_model_profile() -> LayerProfile:
    """Return a state-machine profile of a layer that ignores capacity."""
    return model_profile(IgnoresCapacityLayer)


def broken_profile() -> LayerProfile:
    """Return a profile of a layer that drops messages, expecting one check to fail."""
    return clocked_profile(
        DropsMessagesLayer,
        expected_failures={"core.send_receive_several": "drops every second message"},
    )
