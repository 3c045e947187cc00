"""Malformed heads, trickling clients and an unreachable layer (no sockets, fake clock)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.inmemory import ChannelLayer
from daphne_harness import make_harness


@pytest.mark.parametrize("char", [b"\x01", b"\x0b", b"\x1b", b"\x7f", b"\x00"])
def test_control_character_in_header_value_is_400_and_not_forwarded(char: bytes) -> None:
    harness = make_harness()
    protocol, transport = harness.connect()
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a" + char + b"b\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 400")
    assert harness.receive("http.request") is None


def test_tab_in_header_value_is_allowed() -> None:
    harness = make_harness()
    protocol, _ = harness.connect()
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\nX-Ok: a\tb\r\n\r\n")
    message = harness.receive("http.request")
    assert message is not None and [b"x-ok", b"a\tb"] in message["headers"]


@pytest.mark.parametrize("char", [b"\x01", b"\x1b", b"\x7f"])
def test_control_character_in_request_target_is_400_and_not_forwarded(char: bytes) -> None:
    harness = make_harness()
    protocol, transport = harness.connect()
    protocol.dataReceived(b"GET /a" + char + b"b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 400")
    assert harness.receive("http.request") is None


def test_percent_encoded_control_in_path_is_still_accepted() -> None:
    harness = make_harness()
    protocol, _ = harness.connect()
    protocol.dataReceived(b"GET /a%01b HTTP/1.1\r\nHost: x\r\n\r\n")
    message = harness.receive("http.request")
    assert message is not None and message["path"] == "/a\x01b"


def test_trickled_request_head_is_cut_off_at_the_head_deadline() -> None:
    harness = make_harness(request_head_timeout=10, keep_alive_timeout=3)
    protocol, transport = harness.connect()
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    for _ in range(9):
        harness.clock.advance(1)
        protocol.dataReceived(b"a")
    assert not transport.disconnecting
    harness.clock.advance(1.5)
    assert transport.disconnecting
    assert harness.receive("http.request") is None


def test_complete_head_cancels_the_head_deadline() -> None:
    harness = make_harness(request_head_timeout=5)
    protocol, transport = harness.connect()
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert harness.receive("http.request") is not None
    harness.clock.advance(20)
    assert not transport.disconnecting


class UnreachableLayer(ChannelLayer):
    """An in-memory layer whose sends fail as a Redis layer's do while Redis restarts."""

    def send(self, channel: str, message: dict[str, Any]) -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_unreachable_layer_answers_503_instead_of_dropping_the_request() -> None:
    harness = make_harness(layer=UnreachableLayer())
    protocol, transport = harness.connect()
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    harness.flush()
    assert transport.value().startswith(b"HTTP/1.1 503")
    assert b"Channel layer unavailable" in transport.value()
