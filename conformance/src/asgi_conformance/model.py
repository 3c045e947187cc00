"""The hypothesis way in: a state machine that checks a layer against a reference model.

How this works
--------------
Hypothesis generates sequences of operations (send, receive, group_add,
group_discard, send_group, group_channels, flush) on a few channels and
groups, applies each to the layer and to a plain-Python model, and compares.
The model keeps one FIFO queue per queue name (the channel, or ``x!`` for
``x!y`` channels) bounded by the profile's capacity, and a set of members per
group. Rules that the contract leaves open stay open: a receive across several
channels may pick any channel with a message waiting, and plain channels need
not be FIFO; ``?`` and ``!`` channels must be, except that the copies one
``send_group`` puts on one ``x!`` queue may come in any order, and which of
them get the last free places is the layer's choice (the model skips such a
``send_group``). No time passes in the model, so
the layer must not expire anything during a run: the profile needs a clock
hook or an expiry of at least a minute. Runs are bounded (a few dozen examples
of a few dozen steps) so they take seconds.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from asgi_conformance.context import run_prefix
from asgi_conformance.profile import LayerProfile
from asgi_conformance.registry import CheckFailed

__all__ = ["ModelUnsupportedError", "build_state_machine", "message_values", "run_model"]

logger = logging.getLogger(__name__)

_SEND_NAMES = ("a", "b", "q?one", "p!x", "p!y")
_RECEIVE_NAMES = ("a", "b", "q?one", "p!")
_GROUPS = ("g1", "g2")
_MIN_REAL_EXPIRY = 60.0

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_SCALARS = (
    st.none()
    | st.booleans()
    | _INT64
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)

#: Spec message values: scalars, lists and dicts with str keys, nested a little.
message_values = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)


class ModelUnsupportedError(Exception):
    """Raised when the profile cannot be checked against the model (time would pass)."""


def _queue_key(name: str) -> str:
    index = name.find("!")
    return name if index < 0 else name[: index + 1]


def build_state_machine(profile: LayerProfile) -> type[RuleBasedStateMachine]:
    """Return a state machine class checking layers from ``profile`` against the model."""
    if profile.capacity is None:
        raise ModelUnsupportedError("the model needs the profile's capacity")
    if profile.clock is None and any(
        value is not None and value < _MIN_REAL_EXPIRY
        for value in (profile.expiry, profile.group_expiry)
    ):
        raise ModelUnsupportedError(
            "messages or memberships would expire during a run: give the profile a clock "
            f"hook, or settings with expiry and group_expiry of at least {_MIN_REAL_EXPIRY:g} s"
        )
    capacity = profile.capacity
    counter = itertools.count()

    class LayerModelMachine(RuleBasedStateMachine):
        """Apply random operations to the layer and to the model; compare results."""

        def __init__(self) -> None:
            super().__init__()
            self.layer = profile.factory()
            flush = getattr(self.layer, "flush", None)
            if callable(flush):
                flush()
            self.prefix = f"{run_prefix()}.m{next(counter)}."
            # Entries are (channel, message, batch): one send or send_group is one batch.
            self.queues: dict[str, list[tuple[str, Any, int]]] = {}
            self.batches = itertools.count()
            self.groups: dict[str, set[str]] = {}
            extensions = getattr(self.layer, "extensions", ())
            self.has_groups = "groups" in extensions
            self.has_flush = "flush" in extensions

        def teardown(self) -> None:
            close = getattr(self.layer, "close", None)
            if not profile.reuse and callable(close):
                close()

        def full(self, name: str) -> str:
            return self.prefix + name

        def _deliver(self, channel: str, message: dict[str, Any], batch: int) -> bool:
            queue = self.queues.setdefault(_queue_key(channel), [])
            if len(queue) >= capacity:
                return False
            queue.append((channel, message, batch))
            return True

        @rule(name=st.sampled_from(_SEND_NAMES), value=message_values)
        def send(self, name: str, value: Any) -> None:
            channel, message = self.full(name), {"value": value}
            queue = self.queues.get(_queue_key(channel), [])
            if len(queue) >= capacity:
                try:
                    self.layer.send(channel, message)
                except self.layer.ChannelFull:
                    return
                raise CheckFailed(f"send to {channel!r} holding {capacity} did not raise")
            self.layer.send(channel, message)
            self._deliver(channel, message, next(self.batches))

        @rule(name=st.sampled_from(_SEND_NAMES))
        def send_past_capacity(self, name: str) -> None:
            # Random sends rarely fill a channel; this makes capacity bugs certain to show.
            for index in range(capacity + 1):
                self.send(name, index)

        @rule(names=st.lists(st.sampled_from(_RECEIVE_NAMES), min_size=1, max_size=4, unique=True))
        def receive(self, names: list[str]) -> None:
            full = [self.full(name) for name in names]
            pending = any(self.queues.get(_queue_key(name)) for name in full)
            channel, message = None, None
            for block in (False, True):
                for _ in range(profile.receive_tries):
                    channel, message = self.layer.receive(full, block=block)
                    if channel is not None or not pending:
                        break
                if channel is not None or not pending:
                    break
            if not pending:
                if channel is not None:
                    raise CheckFailed(f"receive({full}) returned {channel!r} from empty channels")
                return
            if channel is None:
                raise CheckFailed(f"receive({full}) returned nothing; the model has messages")
            key = _queue_key(channel)
            if key not in full:
                raise CheckFailed(f"receive({full}) returned a message for {channel!r}")
            queue = self.queues.get(key, [])
            ordered = "?" in key or key.endswith("!")
            # The x!y copies of one send_group may be queued in any order among themselves.
            candidates = [entry for entry in queue if not ordered or entry[2] == queue[0][2]]
            for entry in candidates:
                if entry[:2] == (channel, message):
                    queue.remove(entry)
                    return
            raise CheckFailed(
                f"receive({full}) returned {channel!r}: {message!r:.200}; the model "
                f"expected one of {[entry[:2] for entry in candidates]!r:.400}"
            )

        @rule(group=st.sampled_from(_GROUPS), name=st.sampled_from(_SEND_NAMES))
        def group_add(self, group: str, name: str) -> None:
            if self.has_groups:
                self.layer.group_add(self.full(group), self.full(name))
                self.groups.setdefault(group, set()).add(self.full(name))

        @rule(group=st.sampled_from(_GROUPS), name=st.sampled_from(_SEND_NAMES))
        def group_discard(self, group: str, name: str) -> None:
            if self.has_groups:
                self.layer.group_discard(self.full(group), self.full(name))
                self.groups.get(group, set()).discard(self.full(name))

        @rule(group=st.sampled_from(_GROUPS), value=message_values)
        def send_group(self, group: str, value: Any) -> None:
            if not self.has_groups:
                return
            members = self.groups.get(group, set())
            wanted: dict[str, int] = {}
            for member in members:
                wanted[_queue_key(member)] = wanted.get(_queue_key(member), 0) + 1
            for key, count in wanted.items():
                room = capacity - len(self.queues.get(key, []))
                if 0 < room < count:
                    # Which x!y members get the last places is up to the layer.
                    return
            self.layer.send_group(self.full(group), {"value": value})
            batch = next(self.batches)
            for member in sorted(members):
                self._deliver(member, {"value": value}, batch)

        @rule(group=st.sampled_from(_GROUPS))
        def group_channels(self, group: str) -> None:
            if self.has_groups and callable(getattr(self.layer, "group_channels", None)):
                got = set(self.layer.group_channels(self.full(group)))
                expected = self.groups.get(group, set())
                if got != expected:
                    raise CheckFailed(f"group_channels({group!r}) is {got}; model: {expected}")

        @rule()
        def flush(self) -> None:
            if self.has_flush:
                self.layer.flush()
                self.queues.clear()
                self.groups.clear()

    return LayerModelMachine


def run_model(
    profile: LayerProfile,
    max_examples: int = 50,
    stateful_step_count: int = 30,
    shrink: bool = True,
    derandomize: bool = False,
) -> None:
    """Run the state machine for ``profile``; raise on the first disagreement.

    ``shrink=False`` reports the first failing sequence as found, which is
    quicker but longer to read; ``derandomize=True`` makes runs repeatable.
    """
    machine = build_state_machine(profile)
    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    if shrink:
        phases.append(Phase.shrink)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=max_examples,
            stateful_step_count=stateful_step_count,
            deadline=None,
            database=None,
            phases=phases,
            report_multiple_bugs=False,
            derandomize=derandomize,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
