"""WebSocket handling through StringTransport and a fake clock: handshake, frames, flow control."""

from __future__ import annotations

import struct
from typing import Any

from asgiref.inmemory import ChannelLayer
from daphne.ws_protocol import WebSocketProtocol
from daphne_harness import UPGRADE, Harness, make_harness, parse_server_frames, ws_frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure


def open_socket(harness: Harness, extra: bytes = b"") -> tuple[Any, Any, dict[str, Any]]:
    protocol, transport = harness.connect()
    protocol.dataReceived(UPGRADE + extra + b"\r\n")
    connect = harness.receive("websocket.connect")
    assert connect is not None
    return protocol, transport, connect


def accept(harness: Harness) -> tuple[Any, Any, dict[str, Any]]:
    protocol, transport, connect = open_socket(harness)
    harness.reply(connect["reply_channel"], {"accept": True})
    assert transport.value().startswith(b"HTTP/1.1 101")
    transport.clear()
    return protocol, transport, connect


def test_connect_message_has_spec_keys_and_handshake_is_held(harness: Harness) -> None:
    _protocol, transport, connect = open_socket(harness)
    assert connect["order"] == 0
    assert connect["path"] == "/chat/room"
    assert connect["query_string"] == b"x=1"
    assert connect["scheme"] == "ws"
    assert connect["root_path"] == b""
    assert connect["client"] == ["10.1.2.3", 50123]
    assert connect["server"] == ["127.0.0.1", 8000]
    assert [b"origin", b"http://example.com"] in connect["headers"]
    assert connect["reply_channel"].startswith(harness.context.reply_prefix)
    # Nothing is written until the application answers.
    assert transport.value() == b""
    assert harness.actions[-1][:2] == ("websocket", "connecting")


def test_accept_completes_handshake(harness: Harness) -> None:
    _protocol, transport, connect = open_socket(harness)
    harness.reply(connect["reply_channel"], {"accept": True})
    assert transport.value().startswith(b"HTTP/1.1 101")
    assert harness.actions[-1][:2] == ("websocket", "connected")


def test_reject_and_close_without_data_give_403(harness: Harness) -> None:
    for reply in ({"accept": False}, {"close": True}, {"accept": False, "text": "ignored"}):
        _protocol, transport, connect = open_socket(harness)
        harness.reply(connect["reply_channel"], reply)
        assert transport.value().startswith(b"HTTP/1.1 403"), reply
        assert b"ignored" not in transport.value()
    assert harness.actions[-1][:2] == ("websocket", "rejected")


def test_text_during_handshake_accepts_then_sends(harness: Harness) -> None:
    _protocol, transport, connect = open_socket(harness)
    harness.reply(connect["reply_channel"], {"text": "welcome"})
    head, _, frames = transport.value().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    assert parse_server_frames(frames) == [(1, b"welcome")]


def test_close_with_data_during_handshake_accepts_sends_and_closes(harness: Harness) -> None:
    _protocol, transport, connect = open_socket(harness)
    harness.reply(connect["reply_channel"], {"bytes": b"\x01\x02", "close": 4003})
    _head, _, frames = transport.value().partition(b"\r\n\r\n")
    assert parse_server_frames(frames) == [(2, b"\x01\x02"), (8, struct.pack("!H", 4003))]


def test_connect_timeout_rejects_with_403() -> None:
    harness = make_harness(websocket_connect_timeout=5)
    _protocol, transport, _connect = open_socket(harness)
    harness.clock.advance(4.9)
    assert transport.value() == b""
    harness.clock.advance(0.2)
    assert transport.value().startswith(b"HTTP/1.1 403")


def test_channel_full_on_connect_gives_503_and_no_disconnect() -> None:
    layer = ChannelLayer(capacity=1)
    layer.send("websocket.connect", {"filler": True})
    harness = make_harness(layer)
    protocol, transport = harness.connect()
    protocol.dataReceived(UPGRADE + b"\r\n")
    harness.flush()
    assert transport.value().startswith(b"HTTP/1.1 503")
    protocol.connectionLost(Failure(ConnectionLost("closed")))
    assert harness.receive("websocket.disconnect") is None


def test_subprotocol_negotiation_picks_first_offered_supported() -> None:
    harness = make_harness(ws_protocols=("graphql-ws", "chat"))
    protocol, transport = harness.connect()
    protocol.dataReceived(UPGRADE + b"Sec-WebSocket-Protocol: other, chat, graphql-ws\r\n\r\n")
    connect = harness.receive("websocket.connect")
    harness.reply(connect["reply_channel"], {"accept": True})
    assert b"Sec-WebSocket-Protocol: chat\r\n" in transport.value()


def test_frames_are_forwarded_in_order_and_replies_sent(harness: Harness) -> None:
    protocol, transport, connect = accept(harness)
    reply = connect["reply_channel"]
    protocol.dataReceived(ws_frame(b"one") + ws_frame(b"\x00two", opcode=2))
    first = harness.receive("websocket.receive")
    second = harness.receive("websocket.receive")
    assert first == {
        "reply_channel": reply,
        "path": "/chat/room",
        "order": 1,
        "text": "one",
        "bytes": None,
    }
    assert second["order"] == 2 and second["bytes"] == b"\x00two" and second["text"] is None
    harness.reply(reply, {"text": "out"})
    harness.reply(reply, {"bytes": b"bin"})
    harness.reply(reply, {"text": "a", "bytes": b"b"})  # both: ignored
    assert parse_server_frames(transport.value()) == [(1, b"out"), (2, b"bin")]


def test_close_codes_pass_through_both_ways(harness: Harness) -> None:
    protocol, transport, connect = accept(harness)
    reply = connect["reply_channel"]
    protocol.dataReceived(ws_frame(b"x"))
    harness.reply(reply, {"close": 4100})
    assert parse_server_frames(transport.value())[-1] == (8, struct.pack("!H", 4100))
    protocol.dataReceived(ws_frame(struct.pack("!H", 4100), opcode=8))
    protocol.connectionLost(Failure(ConnectionLost("closed")))
    harness.receive("websocket.receive")
    disconnect = harness.receive("websocket.disconnect")
    assert disconnect == {"reply_channel": reply, "code": 4100, "path": "/chat/room", "order": 2}
    assert harness.receive("websocket.disconnect") is None
    assert reply not in harness.context.handlers


def test_peer_vanishing_sends_disconnect_1006_once(harness: Harness) -> None:
    protocol, _transport, _connect = accept(harness)
    protocol.connectionLost(Failure(ConnectionLost("reset")))
    protocol.connectionLost(Failure(ConnectionLost("reset")))
    disconnect = harness.receive("websocket.disconnect")
    assert disconnect["code"] == 1006 and disconnect["order"] == 1
    assert harness.receive("websocket.disconnect") is None
    assert harness.actions[-1][:2] == ("websocket", "disconnected")


def test_full_receive_channel_pauses_reading_then_resumes() -> None:
    layer = ChannelLayer(channel_capacity={"websocket.receive": 1})
    harness = make_harness(layer, websocket_backpressure_timeout=60)
    protocol, transport, connect = accept(harness)
    protocol.dataReceived(ws_frame(b"1") + ws_frame(b"2") + ws_frame(b"3"))
    harness.flush()
    assert transport.producerState == "paused"
    assert harness.receive("websocket.receive")["text"] == "1"
    harness.clock.advance(1)
    assert harness.receive("websocket.receive")["text"] == "2"
    harness.clock.advance(1)
    assert harness.receive("websocket.receive")["text"] == "3"
    harness.clock.advance(1)
    assert transport.producerState == "producing"
    assert not transport.disconnecting
    assert parse_server_frames(transport.value()) == []
    protocol.dataReceived(ws_frame(b"4"))
    assert harness.receive("websocket.receive")["order"] == 4
    del connect


def test_receive_channel_full_for_too_long_closes_1013() -> None:
    layer = ChannelLayer(channel_capacity={"websocket.receive": 1})
    harness = make_harness(layer, websocket_backpressure_timeout=10)
    protocol, transport, _connect = accept(harness)
    protocol.dataReceived(ws_frame(b"1") + ws_frame(b"2"))
    for _ in range(30):
        harness.clock.advance(0.5)
    assert parse_server_frames(transport.value())[-1] == (8, struct.pack("!H", 1013))
    # Reading resumed so the client's close reply can arrive; later frames are not forwarded.
    assert transport.producerState == "producing"
    protocol.dataReceived(ws_frame(b"late"))
    protocol.connectionLost(Failure(ConnectionLost("closed")))
    assert harness.receive("websocket.receive")["order"] == 1
    # Frame 2 never reached the app, so the disconnect follows frame 1.
    assert harness.receive("websocket.disconnect")["order"] == 2


def test_lifetime_limit_closes_the_socket() -> None:
    harness = make_harness(websocket_timeout=100)
    _protocol, transport, _connect = accept(harness)
    harness.clock.advance(99)
    assert parse_server_frames(transport.value()) == []
    harness.clock.advance(2)
    assert parse_server_frames(transport.value())[-1] == (8, struct.pack("!H", 1000))


def test_oversized_message_closes_1009() -> None:
    harness = make_harness(max_websocket_message_size=100)
    protocol, transport, _connect = accept(harness)
    protocol.dataReceived(ws_frame(b"a" * 200))
    assert parse_server_frames(transport.value())[-1][0] == 8
    assert parse_server_frames(transport.value())[-1][1][:2] == struct.pack("!H", 1009)
    assert harness.receive("websocket.receive") is None


def test_rejected_socket_still_gets_one_disconnect(harness: Harness) -> None:
    protocol, _transport, connect = open_socket(harness)
    harness.reply(connect["reply_channel"], {"accept": False})
    protocol.connectionLost(Failure(ConnectionLost("closed")))
    disconnect = harness.receive("websocket.disconnect")
    assert disconnect["reply_channel"] == connect["reply_channel"]
    assert harness.receive("websocket.disconnect") is None


def test_shutdown_closes_open_sockets_1001_and_refuses_handshakes_503(harness: Harness) -> None:
    _protocol, transport, _connect = accept(harness)
    [opened] = harness.context.connections
    assert isinstance(opened, WebSocketProtocol)
    _protocol, waiting_transport, _connect = open_socket(harness)
    [waiting] = harness.context.connections - {opened}
    for connection in list(harness.context.connections):
        connection.shutdown()
    assert parse_server_frames(transport.value())[-1] == (8, struct.pack("!H", 1001))
    assert waiting_transport.value().startswith(b"HTTP/1.1 503")
    assert opened.is_busy() and waiting.is_busy()


def test_accept_followed_quickly_by_frames_keeps_their_order(harness: Harness) -> None:
    _protocol, transport, connect = open_socket(harness)
    reply = connect["reply_channel"]
    harness.reply(reply, {"accept": True})
    harness.reply(reply, {"text": "first"})
    harness.reply(reply, {"text": "second", "close": True})
    _head, _, frames = transport.value().partition(b"\r\n\r\n")
    assert parse_server_frames(frames) == [
        (1, b"first"),
        (1, b"second"),
        (8, struct.pack("!H", 1000)),
    ]


def test_origin_allowlist_refuses_other_browser_origins_with_403() -> None:
    harness = make_harness(ws_allowed_origins=("https://*.example.org", "http://example.com"))
    _protocol, transport, connect = open_socket(harness)  # Origin: http://example.com
    harness.reply(connect["reply_channel"], {"accept": True})
    assert transport.value().startswith(b"HTTP/1.1 101")
    protocol, transport = harness.connect()
    protocol.dataReceived(UPGRADE.replace(b"http://example.com", b"https://evil.test") + b"\r\n")
    assert transport.value().startswith(b"HTTP/1.1 403")
    assert harness.receive("websocket.connect") is None
    protocol, transport = harness.connect()
    no_origin = UPGRADE.replace(b"Origin: http://example.com\r\n", b"")
    protocol.dataReceived(no_origin + b"\r\n")
    assert harness.receive("websocket.connect") is not None


def test_null_origin_is_accepted_without_an_allowlist(harness: Harness) -> None:
    protocol, transport = harness.connect()
    protocol.dataReceived(UPGRADE.replace(b"http://example.com", b"null") + b"\r\n")
    connect = harness.receive("websocket.connect")
    assert connect is not None
    harness.reply(connect["reply_channel"], {"accept": True})
    assert transport.value().startswith(b"HTTP/1.1 101")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frames=st.lists(
        st.one_of(st.text(max_size=300), st.binary(min_size=1, max_size=300)),
        min_size=1,
        max_size=8,
    )
)
def test_any_text_or_binary_frames_arrive_intact_and_in_order(frames: list[str | bytes]) -> None:
    harness = make_harness()
    protocol, _transport, connect = accept(harness)
    protocol.dataReceived(
        b"".join(
            ws_frame(f.encode("utf-8"), opcode=1) if isinstance(f, str) else ws_frame(f, opcode=2)
            for f in frames
        )
    )
    received = [harness.receive("websocket.receive") for _ in frames]
    assert [m["order"] for m in received] == list(range(1, len(frames) + 1))
    assert [m["text"] if m["text"] is not None else m["bytes"] for m in received] == frames
    assert all(m["reply_channel"] == connect["reply_channel"] for m in received)


def test_a_reply_after_the_client_started_closing_is_dropped_quietly(
    harness: Harness, caplog: Any
) -> None:
    protocol, transport, connect = accept(harness)
    reply = connect["reply_channel"]
    # The client closes; the TCP connection is not gone yet when a reply arrives.
    protocol.dataReceived(ws_frame(struct.pack("!H", 1000), opcode=8))
    transport.clear()
    with caplog.at_level("DEBUG", logger="daphne"):
        harness.reply(reply, {"text": "too late"})
        harness.reply(reply, {"bytes": b"also late", "close": True})
    assert parse_server_frames(transport.value()) == []
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
    assert "closed before a reply could be sent" in caplog.text
