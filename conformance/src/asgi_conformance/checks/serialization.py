"""Serialization checks: every spec value type round-trips exactly; size limits hold."""

from __future__ import annotations

import logging
from typing import Any

from asgi_conformance.context import CheckContext
from asgi_conformance.registry import check

__all__: list[str] = []

logger = logging.getLogger(__name__)

_TEXT = {
    "ascii": "hello",
    "empty": "",
    "accents": "caf\u00e9 na\u00efve",
    "cjk": "\u4e2d\u6587",
    "astral": "\U0001f600 smile \U0001f4a9",
    "nul_and_controls": "a\x00b\x01\x1f\x7f\n\r\t",
    "surrogate_free_max": "\U0010ffff",
}
_BYTES = {
    "all_bytes": bytes(range(256)),
    "nul": b"\x00",
    "empty": b"",
    "utf8_emoji": "\U0001f600".encode(),
    "invalid_utf8": b"\xff\xfe\x80",
}


def _round_trip(ctx: CheckContext, message: dict[str, Any]) -> Any:
    channel = ctx.name()
    ctx.layer.send(channel, message)
    _channel, got = ctx.receive_one([channel])
    return got


def _compare(ctx: CheckContext, got: Any, expected: Any, path: str) -> None:
    """Compare recursively, insisting on exact types (bool is not int, bytes is not str)."""
    if isinstance(expected, dict):
        ctx.expect(isinstance(got, dict), f"{path}: expected a dict, got {got!r:.200}")
        ctx.expect_equal(sorted(got), sorted(expected), f"{path}: keys")
        for key, value in expected.items():
            _compare(ctx, got[key], value, f"{path}[{key!r}]")
        return
    if isinstance(expected, list | tuple):
        ctx.expect(type(got) is list, f"{path}: expected a list, got {got!r:.200}")
        ctx.expect_equal(len(got), len(expected), f"{path}: length")
        for index, value in enumerate(expected):
            _compare(ctx, got[index], value, f"{path}[{index}]")
        return
    ctx.expect_equal(got, expected, path)


@check("serialization.strings")
def strings(ctx: CheckContext) -> None:
    """str and bytes values round-trip exactly (astral emoji, NUL, controls) and stay distinct."""
    message = {"text": dict(_TEXT), "bytes": dict(_BYTES), "same": ["abc", b"abc"]}
    got = _round_trip(ctx, message)
    _compare(ctx, got, message, "message")


@check("serialization.value_types")
def value_types(ctx: CheckContext) -> None:
    """Ints (int64 extremes), floats, bools, None and nested lists/dicts round-trip exactly."""
    message = {
        "int_max": 2**63 - 1,
        "int_min": -(2**63),
        "zero": 0,
        "negative": -1,
        "uint32_edge": 2**32,
        "float": 0.1,
        "float_big": 1.7976931348623157e308,
        "float_negative": -2.5,
        "float_whole": 3.0,
        "true": True,
        "false": False,
        "none": None,
        "list": [1, "two", b"three", None, [4.5, [True]]],
        "dict": {"a": {"b": {"c": [1, {"d": b"e"}]}}, "": "empty key"},
        "empty_list": [],
        "empty_dict": {},
    }
    got = _round_trip(ctx, message)
    _compare(ctx, got, message, "message")


@check("serialization.tuples_become_lists")
def tuples_become_lists(ctx: CheckContext) -> None:
    """Tuples in a message arrive as lists, nested ones included."""
    got = _round_trip(ctx, {"pair": (1, 2), "nested": [("a", (b"b",))]})
    _compare(ctx, got, {"pair": [1, 2], "nested": [["a", [b"b"]]]}, "message")


@check("serialization.invalid_values")
def invalid_values(ctx: CheckContext) -> None:
    """Values outside the spec (sets, objects, non-str keys, non-dict messages) raise TypeError."""
    channel = ctx.name()
    for message in ({"value": {1, 2}}, {"value": object()}, {1: "int key"}, ["not", "dict"]):
        ctx.expect_raises(TypeError, f"send() of {message!r:.60}", ctx.layer.send, channel, message)
    ctx.assert_empty([channel], "every send was rejected")


@check("serialization.one_megabyte")
def one_megabyte(ctx: CheckContext) -> None:
    """A message with a 1,000,000-byte payload is accepted and arrives intact."""
    payload = bytes(range(256)) * 3906 + b"\x00" * 64
    ctx.expect_equal(len(payload), 1_000_000, "payload size")
    got = _round_trip(ctx, {"bytes": payload})
    ctx.expect(got == {"bytes": payload}, "the 1,000,000-byte payload arrived changed")


@check("serialization.one_megabyte_text")
def one_megabyte_text(ctx: CheckContext) -> None:
    """A message with a 1,000,000-character ASCII str payload is accepted and arrives intact."""
    payload = "abcdefghij" * 100_000
    got = _round_trip(ctx, {"text": payload})
    ctx.expect(got == {"text": payload}, "the 1,000,000-character payload arrived changed")


@check("serialization.too_large")
def too_large(ctx: CheckContext) -> None:
    """A 1.5 MB message raises layer.MessageTooLarge and is not delivered."""
    channel = ctx.name()
    ctx.expect_raises(
        ctx.layer.MessageTooLarge,
        "send() of a 1.5 MB message",
        ctx.layer.send,
        channel,
        {"bytes": b"x" * 1_500_000},
    )
    ctx.assert_empty([channel], "the oversized message must not be delivered")


@check("serialization.too_large_group")
def too_large_group(ctx: CheckContext) -> None:
    """send_group of a 1.5 MB message raises layer.MessageTooLarge and delivers nothing."""
    ctx.require_extension("groups")
    group, channel = ctx.name("group"), ctx.name()
    ctx.layer.group_add(group, channel)
    ctx.expect_raises(
        ctx.layer.MessageTooLarge,
        "send_group() of a 1.5 MB message",
        ctx.layer.send_group,
        group,
        {"bytes": b"x" * 1_500_000},
    )
    ctx.assert_empty([channel], "the oversized group message must not be delivered")
