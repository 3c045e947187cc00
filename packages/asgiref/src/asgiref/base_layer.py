"""Shared behaviour for ASGI 1 channel layers.

How this works
--------------
A channel layer moves message dicts between processes through named channels
(see the ASGI 1.0 spec). Every backend in this project subclasses
:class:`BaseChannelLayer`, which owns the rules that must not differ between
backends:

* Names. Channel and group names are ASCII letters, digits, ``-``, ``_`` and
  ``.``, shorter than 200 characters. A channel name may contain one type
  character: ``?`` (single-reader) or ``!`` (process-specific). Group names
  contain neither. ``receive`` accepts normal names, ``?`` names and
  process-specific *prefixes* (``x!``) but never a full ``x!y`` name, because
  only the owning process reads those, through the prefix. A bad name raises
  :class:`TypeError` naming the value (the 1.x behaviour callers rely on).
* Capacity. ``capacity`` is the default number of queued messages a channel may
  hold; ``channel_capacity`` maps glob strings or compiled regexes to other
  capacities, first match in insertion order winning. Process-specific
  channels share the capacity of their non-local part (``x!``).
* Messages. A message is a dict of str keys whose values are str, bytes, int
  (64-bit), float, bool, None, lists (tuples become lists) or dicts with str
  keys. Its encoded size may not exceed ``message_size_limit`` (1 MiB by
  default, which fits any message of 1 MB of payload); larger raises
  :class:`MessageTooLarge`.
* Batches. ``send_many`` sends ``(channel, message)`` pairs and reports each
  one's outcome instead of raising; ``send_many_and_receive`` adds a receive
  to the same call. Backends override them to use fewer round trips.
"""

from __future__ import annotations

import fnmatch
import functools
import random
import re
import string
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "DEFAULT_MESSAGE_SIZE_LIMIT",
    "MAX_NAME_LENGTH",
    "BaseChannelLayer",
    "ChannelLayerProtocol",
    "ChannelStatistics",
    "compile_capacities",
    "copy_message",
    "require_send_pairs",
    "validate_message",
]

#: Names must be *shorter* than this many characters.
MAX_NAME_LENGTH = 200
#: Default limit on a message's encoded size, in bytes.
DEFAULT_MESSAGE_SIZE_LIMIT = 1024 * 1024

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_PLAIN = r"[a-zA-Z0-9\-_.]"
_CHANNEL_NAME = re.compile(rf"^{_PLAIN}+(?:[!?]{_PLAIN}*)?\Z")
_RECEIVE_NAME = re.compile(rf"^{_PLAIN}+(?:\?{_PLAIN}*|!)?\Z")
_GROUP_NAME = re.compile(rf"^{_PLAIN}+\Z")
_SUFFIX_ALPHABET = string.ascii_letters
_random = random.Random()

CapacityPattern = str | re.Pattern[str]
ChannelStatistics = dict[str, int | float]


@runtime_checkable
class ChannelLayerProtocol(Protocol):
    """The ASGI 1 channel layer contract that every backend fulfils.

    Optional extensions add ``group_add``/``group_discard``/``group_channels``/
    ``send_group`` (``groups``), ``flush`` (``flush``), ``global_statistics``/
    ``channel_statistics`` (``statistics``), ``receive_async`` (``async``) and
    ``receive_twisted`` (``twisted``); ``extensions`` lists the ones present.
    """

    extensions: list[str]
    ChannelFull: type[Exception]
    MessageTooLarge: type[Exception]

    def send(self, channel: str, message: dict[str, Any]) -> None: ...

    def receive(
        self, channels: Iterable[str], block: bool = False
    ) -> tuple[str, dict[str, Any]] | tuple[None, None]: ...

    def new_channel(self, pattern: str) -> str: ...


def compile_capacities(
    channel_capacity: Mapping[CapacityPattern, int] | None,
) -> list[tuple[re.Pattern[str], int]]:
    """Return ``(regex, capacity)`` pairs for a ``channel_capacity`` mapping.

    Glob strings (``"http.response!*"``) are translated with :mod:`fnmatch`;
    compiled regexes are used as they are and match from the start of the name.
    """
    if channel_capacity is None:
        return []
    if not isinstance(channel_capacity, Mapping):
        raise TypeError(
            f"channel_capacity must be a dict of pattern -> capacity, got "
            f"{channel_capacity!r}; for example {{'http.request': 200}}."
        )
    compiled: list[tuple[re.Pattern[str], int]] = []
    for pattern, capacity in channel_capacity.items():
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(
                f"channel_capacity[{pattern!r}] is {capacity!r}; it must be a positive int."
            )
        if isinstance(pattern, re.Pattern):
            compiled.append((pattern, capacity))
        elif isinstance(pattern, str):
            compiled.append((re.compile(fnmatch.translate(pattern)), capacity))
        else:
            raise TypeError(
                f"channel_capacity key {pattern!r} must be a glob string or a compiled regex."
            )
    return compiled


def _bad_value(path: str, value: object, why: str) -> TypeError:
    return TypeError(f"Message value at {path} is {type(value).__name__} {value!r:.80}: {why}.")


def copy_message(message: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """Validate ``message`` and return an independent copy plus its size estimate.

    Tuples come back as lists. The size is roughly what msgpack would encode, so
    it can be compared with a layer's ``message_size_limit`` without encoding.
    Raise :class:`TypeError` for values the ASGI spec does not allow and
    :class:`ValueError` for integers outside the signed 64-bit range.
    """
    if not isinstance(message, dict):
        raise TypeError(f"A message must be a dict, got {type(message).__name__} {message!r:.80}.")
    size = [0]
    copied = _copy_dict(message, "message", size)
    return copied, size[0]


def validate_message(message: Mapping[str, Any]) -> int:
    """Check ``message`` against the spec's types and return its size estimate."""
    return copy_message(message)[1]


def _copy_dict(value: dict[Any, Any], path: str, size: list[int]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    size[0] += 1
    for key, item in value.items():
        if type(key) is not str:
            raise TypeError(
                f"Message key {key!r} at {path} is {type(key).__name__}; keys must be str."
            )
        kind = type(item)
        # Inline the commonest leaf types: this loop is on every layer's send path.
        if kind is str and item.isascii():
            size[0] += len(key) + len(item) + 3
            result[key] = item
        elif kind is bytes:
            size[0] += len(key) + len(item) + 3
            result[key] = item
        else:
            size[0] += len(key) + 1
            result[key] = _copy_value(item, path, key, size)
    return result


def _copy_value(item: Any, path: str, key: object, size: list[int]) -> Any:
    kind = type(item)
    if kind is str:
        size[0] += len(item) + 2 if item.isascii() else len(item.encode("utf-8")) + 2
        return item
    if kind is bytes:
        size[0] += len(item) + 2
        return item
    if kind is int:
        if not _INT64_MIN <= item <= _INT64_MAX:
            raise ValueError(
                f"Message value at {path}[{key!r}] is {item}, outside the 64-bit integer "
                "range; send large numbers as strings."
            )
        size[0] += 9
        return item
    if item is None or kind is bool or kind is float:
        size[0] += 9
        return item
    if kind is dict:
        return _copy_dict(item, f"{path}[{key!r}]", size)
    if kind is list or kind is tuple:
        size[0] += 1
        copied: list[Any] = []
        sub = ""  # the element path, built only for elements that are not plain leaves
        for index, element in enumerate(item):
            # Inline bytes and ASCII str: headers are lists of such pairs on every request.
            element_kind = type(element)
            if element_kind is bytes or (element_kind is str and element.isascii()):
                size[0] += len(element) + 2
                copied.append(element)
            else:
                sub = sub or f"{path}[{key!r}]"
                copied.append(_copy_value(element, sub, index, size))
        return copied
    if isinstance(item, bytearray | memoryview):
        data = bytes(item)
        size[0] += len(data) + 2
        return data
    raise _bad_value(
        f"{path}[{key!r}]",
        item,
        "allowed types are str, bytes, int, float, bool, None, list and dict",
    )


class BaseChannelLayer:
    """Base class for channel layers: names, capacities, message checks.

    Subclasses implement ``send``, ``receive`` and ``new_channel`` (and any
    extension methods) and call the ``require_*``/``check_message`` helpers.
    """

    extensions: list[str] = []

    class ChannelFull(Exception):
        """Raised when a send would put a channel over its capacity."""

    class MessageTooLarge(Exception):
        """Raised when a message is bigger than the layer's size limit."""

    def __init__(
        self,
        expiry: float = 60,
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: Mapping[CapacityPattern, int] | None = None,
        message_size_limit: int = DEFAULT_MESSAGE_SIZE_LIMIT,
        time_fn: Callable[[], float] | None = None,
    ) -> None:
        _require_positive("expiry", expiry)
        _require_positive("group_expiry", group_expiry)
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity is {capacity!r}; it must be a positive int such as 100.")
        if not isinstance(message_size_limit, int) or message_size_limit < 1024:
            raise ValueError(
                f"message_size_limit is {message_size_limit!r}; it must be an int of at "
                "least 1024 bytes."
            )
        self.expiry = expiry
        self.group_expiry = group_expiry
        self.capacity = capacity
        self.channel_capacity = compile_capacities(channel_capacity)
        self.message_size_limit = message_size_limit
        self.time_fn: Callable[[], float] = time_fn or time.time
        self.get_capacity = functools.lru_cache(maxsize=4096)(self._lookup_capacity)

    # Capacity ---------------------------------------------------------------

    def _lookup_capacity(self, channel: str) -> int:
        name = self.non_local_name(channel)
        for pattern, capacity in self.channel_capacity:
            if pattern.match(name):
                return capacity
        return self.capacity

    # Names --------------------------------------------------------------------

    @staticmethod
    def non_local_name(name: str) -> str:
        """Return ``name`` up to and including its ``!``, or ``name`` unchanged."""
        index = name.find("!")
        return name if index < 0 else name[: index + 1]

    def valid_channel_name(self, name: object, receive: bool = False) -> bool:
        """Return True if ``name`` may be sent to (or, with receive, read from)."""
        if type(name) is not str:
            return False
        return _name_matches(_RECEIVE_NAME if receive else _CHANNEL_NAME, name)

    def valid_group_name(self, name: object) -> bool:
        """Return True if ``name`` is a valid group name."""
        return type(name) is str and _name_matches(_GROUP_NAME, name)

    def require_channel_name(self, name: object) -> str:
        """Return ``name`` if it is a valid channel name to send to, else raise TypeError."""
        if self.valid_channel_name(name):
            return name  # type: ignore[return-value]
        raise TypeError(_name_error("channel", name))

    def require_receive_names(self, channels: Iterable[str]) -> list[str]:
        """Return ``channels`` as a list after checking each may be received from."""
        if isinstance(channels, str):
            raise TypeError(
                f"receive() takes a list of channel names, got the string {channels!r}; "
                f"pass [{channels!r}]."
            )
        names = list(channels)
        for name in names:
            if not self.valid_channel_name(name, receive=True):
                if isinstance(name, str) and "!" in name and not name.endswith("!"):
                    raise TypeError(
                        f"Cannot receive on the process-specific channel {name!r}; receive on "
                        f"its prefix {self.non_local_name(name)!r} instead."
                    )
                raise TypeError(_name_error("channel", name))
        return names

    def require_group_name(self, name: object) -> str:
        """Return ``name`` if it is a valid group name, else raise TypeError."""
        if self.valid_group_name(name):
            return name  # type: ignore[return-value]
        raise TypeError(_name_error("group", name))

    def require_new_channel_pattern(self, pattern: object) -> str:
        """Check a ``new_channel`` pattern (``"name?"``) and return it."""
        if not (isinstance(pattern, str) and pattern.endswith("?")):
            hint = ""
            if isinstance(pattern, str) and pattern.endswith("!"):
                hint = (
                    " Process-specific names are made by the process that reads them: "
                    "append your own local part to the prefix."
                )
            raise TypeError(f"new_channel() needs a pattern ending in '?', got {pattern!r}.{hint}")
        if not self.valid_channel_name(pattern + "x"):
            raise TypeError(_name_error("channel pattern", pattern))
        return pattern

    @staticmethod
    def random_suffix(length: int = 12) -> str:
        """Return ``length`` random ASCII letters for new channel names."""
        return "".join(_random.choices(_SUFFIX_ALPHABET, k=length))

    # Messages -----------------------------------------------------------------

    def check_message(self, message: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
        """Validate and copy ``message``; raise MessageTooLarge above the limit."""
        copied, size = copy_message(message)
        self.check_size(size)
        return copied, size

    def check_size(self, size: int) -> None:
        """Raise MessageTooLarge if an encoded message of ``size`` bytes is too big."""
        if size > self.message_size_limit:
            raise self.MessageTooLarge(
                f"Message is {size} bytes, over this layer's limit of "
                f"{self.message_size_limit} bytes; send large payloads in chunks or "
                "raise message_size_limit."
            )

    # Batches -----------------------------------------------------------------

    def send_many(
        self, messages: Iterable[tuple[str, dict[str, Any]]]
    ) -> list[BaseException | None]:
        """Send ``(channel, message)`` pairs in order; report each one's outcome.

        Returns one entry per pair: ``None`` if the message was queued, otherwise
        the exception a plain ``send`` would have raised for it (``ChannelFull``,
        ``MessageTooLarge``, ``TypeError``, a connection error...), so one failed
        message never hides the outcome of the others. Layers that can queue a
        batch in fewer round trips (``asgi_redis``) override this; this version
        simply calls ``send`` for each pair.
        """
        results: list[BaseException | None] = []
        for channel, message in require_send_pairs(messages):
            try:
                self.send(channel, message)  # type: ignore[attr-defined]
            except Exception as exc:  # reported to the caller, per message
                results.append(exc)
            else:
                results.append(None)
        return results

    def send_many_and_receive(
        self,
        messages: Iterable[tuple[str, dict[str, Any]]],
        channels: Iterable[str],
        block: bool = False,
    ) -> tuple[list[BaseException | None], tuple[str, dict[str, Any]] | tuple[None, None]]:
        """Return ``(send_many(messages), receive(channels, block))``.

        A worker hands over its replies and asks for its next message in one
        call, so a layer that can do both in one round trip (``asgi_redis``)
        overrides this. The sends happen first: a message sent to one of
        ``channels`` can be the one received.
        """
        results = self.send_many(messages)
        return results, self.receive(channels, block)  # type: ignore[attr-defined]

    # Deprecated API -----------------------------------------------------------

    def receive_many(
        self, channels: Iterable[str], block: bool = False
    ) -> tuple[str, dict[str, Any]] | tuple[None, None]:
        """Deprecated alias of ``receive``."""
        warnings.warn(
            "receive_many() is deprecated; call receive() instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.receive(channels, block)  # type: ignore[attr-defined, no-any-return]

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__}>"


def require_send_pairs(messages: Iterable[tuple[str, dict[str, Any]]]) -> list[tuple[str, Any]]:
    """Return ``messages`` as a list of 2-tuples, or raise TypeError naming the bad item."""
    pairs = list(messages)
    for index, pair in enumerate(pairs):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise TypeError(
                f"send_many() item {index} is {pair!r:.80}; pass (channel, message) pairs, "
                "e.g. [('http.request', {...})]."
            )
    return [(pair[0], pair[1]) for pair in pairs]


@functools.lru_cache(maxsize=8192)
def _name_matches(pattern: re.Pattern[str], name: str) -> bool:
    # Cached: the same few channel names are checked on every send and receive.
    return 0 < len(name) < MAX_NAME_LENGTH and pattern.match(name) is not None


def _require_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{name} is {value!r}; it must be a positive number of seconds.")


def _name_error(kind: str, name: object) -> str:
    if not isinstance(name, str):
        return f"The {kind} name must be a str, got {type(name).__name__} {name!r:.80}."
    if not name:
        return f"The {kind} name is empty."
    if len(name) >= MAX_NAME_LENGTH:
        return (
            f"The {kind} name {name[:40]!r}... is {len(name)} characters; names must be "
            f"shorter than {MAX_NAME_LENGTH}."
        )
    allowed = "ASCII letters, digits, '-', '_' and '.'"
    if kind != "group":
        allowed += ", plus one '?' or '!'"
    return f"The {kind} name {name!r} is invalid; use only {allowed}."
