"""HTTP/1.1 handling, driven through StringTransport and a fake clock (no sockets)."""

from __future__ import annotations

from urllib.parse import quote

from asgiref.inmemory import ChannelLayer
from daphne_harness import Harness, make_harness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure

GET = b"GET /a%20b/%E2%9C%93?x=1&y=%20z HTTP/1.1\r\nHost: example.com\r\n"


def request(harness: Harness, raw: bytes) -> tuple[dict | None, object]:
    protocol, transport = harness.connect()
    protocol.dataReceived(raw)
    return harness.receive("http.request"), transport


def test_request_message_carries_every_spec_key(harness: Harness) -> None:
    raw = GET + b"X-Dup: one\r\nx-dup: two\r\nCookie: a=b\r\n\r\n"
    message, _ = request(harness, raw)
    assert message is not None
    assert message["reply_channel"].startswith(harness.context.reply_prefix)
    assert message["http_version"] == "1.1"
    assert message["method"] == "GET"
    assert message["scheme"] == "http"
    assert message["path"] == "/a b/\u2713"
    assert message["query_string"] == b"x=1&y=%20z"
    assert message["root_path"] == ""
    assert message["body"] == b""
    assert message["client"] == ["10.1.2.3", 50123]
    assert message["server"] == ["127.0.0.1", 8000]
    assert [b"x-dup", b"one"] in message["headers"]
    dups = [value for name, value in message["headers"] if name == b"x-dup"]
    assert dups == [b"one", b"two"]
    assert all(name == name.lower() for name, _ in message["headers"])
    assert "body_channel" not in message


def test_header_names_with_underscores_are_dropped(harness: Harness) -> None:
    message, _ = request(harness, GET + b"X_Forwarded_User: admin\r\nX-Ok: 1\r\n\r\n")
    assert message is not None
    names = [name for name, _ in message["headers"]]
    assert b"x-ok" in names
    assert not any(b"_" in name for name in names)


def test_root_path_comes_from_options_or_daphne_root_path_header() -> None:
    harness = make_harness(root_path="/mount")
    message, _ = request(harness, GET + b"\r\n")
    assert message is not None and message["root_path"] == "/mount"
    message, _ = request(harness, GET + b"Daphne-Root-Path: /other%20app\r\n\r\n")
    assert message is not None and message["root_path"] == "/other app"


def test_response_is_written_and_connection_kept_alive(harness: Harness) -> None:
    protocol, transport = harness.connect()
    protocol.dataReceived(GET + b"\r\n")
    message = harness.receive("http.request")
    harness.reply(
        message["reply_channel"],
        {
            "status": 201,
            "headers": [[b"x-a", b"1"], [b"set-cookie", b"a=1"], [b"set-cookie", b"b=2"]],
            "content": b"hello",
        },
    )
    out = transport.value()
    assert out.startswith(b"HTTP/1.1 201 Created\r\n")
    assert out.count(b"Set-Cookie:") == 2
    # The whole body came in one message, so it is sent with a Content-Length.
    assert out.endswith(b"Content-Length: 5\r\n\r\nhello")
    assert b"chunked" not in out
    assert not transport.disconnecting
    transport.clear()
    protocol.dataReceived(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
    second = harness.receive("http.request")
    assert second["path"] == "/second"
    assert second["reply_channel"] != message["reply_channel"]
    harness.reply(
        second["reply_channel"],
        {"status": 200, "headers": [[b"content-length", b"2"]], "content": b"ok"},
    )
    assert transport.value().endswith(b"\r\n\r\nok")
    assert harness.actions[-1][0:2] == ("http", "complete")
    details = harness.actions[-1][2]
    assert details["path"] == "/second" and details["status"] == 200
    assert details["method"] == "GET" and details["client"] == "10.1.2.3:50123"
    assert details["size"] == 2


def test_streamed_response_uses_chunked_encoding(harness: Harness) -> None:
    message, transport = request(harness, GET + b"\r\n")
    reply = message["reply_channel"]
    harness.reply(reply, {"status": 200, "headers": [], "more_content": True})
    assert b"Transfer-Encoding: chunked" in transport.value()
    harness.reply(reply, {"content": b"abc", "more_content": True})
    harness.reply(reply, {"content": b"de"})
    assert transport.value().endswith(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    # A reply after the end is ignored.
    harness.reply(reply, {"content": b"late"})
    assert b"late" not in transport.value()


def test_malformed_request_line_gets_400_and_nothing_is_forwarded(harness: Harness) -> None:
    message, transport = request(harness, b"NONSENSE\r\n\r\n")
    assert message is None
    assert transport.value().startswith(b"HTTP/1.1 400")


def test_path_that_is_not_utf8_gets_400_and_nothing_is_forwarded(harness: Harness) -> None:
    message, transport = request(harness, b"GET /%FF%FE HTTP/1.1\r\nHost: x\r\n\r\n")
    assert message is None
    assert transport.value().startswith(b"HTTP/1.1 400")


def test_too_many_headers_get_400() -> None:
    harness = make_harness(max_headers=5)
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(10))
    message, transport = request(harness, GET + headers + b"\r\n")
    assert message is None
    assert transport.value().startswith(b"HTTP/1.1 400")


def test_oversized_headers_get_400() -> None:
    harness = make_harness(max_header_size=1024)
    message, transport = request(harness, GET + b"X-Big: " + b"a" * 2000 + b"\r\n\r\n")
    assert message is None
    assert transport.value().startswith(b"HTTP/1.1 400")


def test_channel_full_on_http_request_gives_503() -> None:
    layer = ChannelLayer(capacity=1)
    layer.send("http.request", {"filler": True})
    harness = make_harness(layer)
    protocol, transport = harness.connect()
    protocol.dataReceived(GET + b"\r\n")
    harness.flush()
    assert transport.value().startswith(b"HTTP/1.1 503")
    assert harness.context.handlers == {}


def test_no_reply_within_http_timeout_gives_503_and_disconnect() -> None:
    harness = make_harness(http_timeout=30)
    message, transport = request(harness, GET + b"\r\n")
    harness.clock.advance(29)
    assert transport.value() == b""
    harness.clock.advance(2)
    assert transport.value().startswith(b"HTTP/1.1 503")
    disconnect = harness.receive("http.disconnect")
    assert disconnect == {"reply_channel": message["reply_channel"], "path": "/a b/\u2713"}
    assert message["reply_channel"] not in harness.context.handlers


def test_streaming_response_outlives_http_timeout_unless_idle_timeout_set() -> None:
    harness = make_harness(http_timeout=10)
    message, transport = request(harness, GET + b"\r\n")
    harness.reply(message["reply_channel"], {"status": 200, "more_content": True})
    harness.clock.advance(1000)
    assert not transport.disconnecting
    harness.reply(message["reply_channel"], {"content": b"still here"})
    assert b"still here" in transport.value()

    harness = make_harness(http_timeout=10, http_idle_timeout=5)
    message, transport = request(harness, GET + b"\r\n")
    reply = message["reply_channel"]
    harness.reply(reply, {"status": 200, "more_content": True})
    harness.clock.advance(4)
    harness.reply(reply, {"content": b"tick", "more_content": True})
    harness.clock.advance(4)
    assert not transport.disconnecting
    harness.clock.advance(2)
    assert transport.disconnecting
    assert harness.receive("http.disconnect")["reply_channel"] == reply


def test_declared_body_over_limit_gets_413_without_forwarding() -> None:
    harness = make_harness(max_request_body_size=100)
    raw = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"a" * 50
    message, transport = request(harness, raw)
    assert message is None
    assert transport.value().startswith(b"HTTP/1.1 413")
    assert transport.disconnecting
    assert harness.actions[-1][2]["status"] == 413


def test_chunked_body_over_limit_gets_413_without_forwarding() -> None:
    harness = make_harness(max_request_body_size=100)
    raw = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw += b"40\r\n" + b"a" * 64 + b"\r\n" + b"40\r\n" + b"b" * 64 + b"\r\n0\r\n\r\n"
    message, transport = request(harness, raw)
    assert message is None
    assert transport.value().startswith(b"HTTP/1.1 413")


def test_large_body_is_streamed_to_body_channel_with_back_pressure() -> None:
    layer = ChannelLayer(channel_capacity={"http.request.body?*": 1})
    harness = make_harness(layer, request_body_chunk_size=10)
    body = bytes(range(35))
    raw = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\n\r\n" + body
    message, _ = request(harness, raw)
    assert message["body"] == body[:10]
    channel = message["body_channel"]
    assert channel.startswith("http.request.body?")
    received = []
    for _ in range(10):
        chunk = harness.receive(channel)
        if chunk is not None:
            received.append(chunk)
            if not chunk["more_content"]:
                break
        harness.clock.advance(1)
    assert b"".join(c["content"] for c in received) == body[10:]
    assert [c["more_content"] for c in received] == [True, True, False]


def test_client_leaving_before_response_sends_http_disconnect(harness: Harness) -> None:
    protocol, transport = harness.connect()
    protocol.dataReceived(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
    message = harness.receive("http.request")
    transport.loseConnection()
    protocol.connectionLost(Failure(ConnectionLost("gone")))
    disconnect = harness.receive("http.disconnect")
    assert disconnect == {"reply_channel": message["reply_channel"], "path": "/poll"}
    assert message["reply_channel"] not in harness.context.handlers


def test_proxy_headers_set_client_and_scheme_only_for_trusted_peers() -> None:
    from ipaddress import ip_network

    raw = GET + (
        b"X-Forwarded-For: 203.0.113.9, 10.0.0.1\r\nX-Forwarded-Port: 4430\r\n"
        b"X-Forwarded-Proto: https\r\n\r\n"
    )
    harness = make_harness(proxy_headers=True)
    message, _ = request(harness, raw)
    assert message["client"] == ["203.0.113.9", 4430]
    assert message["scheme"] == "https"

    harness = make_harness(proxy_headers=True, proxy_trusted=(ip_network("192.168.0.0/16"),))
    message, _ = request(harness, raw)
    assert message["client"] == ["10.1.2.3", 50123]
    assert message["scheme"] == "http"

    harness = make_harness()
    message, _ = request(harness, raw)
    assert message["client"] == ["10.1.2.3", 50123]


def test_bad_response_from_application_gives_500(harness: Harness) -> None:
    message, transport = request(harness, GET + b"\r\n")
    harness.reply(message["reply_channel"], {"headers": [], "content": b"no status"})
    assert transport.value().startswith(b"HTTP/1.1 500")


def test_server_push_is_dropped_and_response_still_works(harness: Harness) -> None:
    message, transport = request(harness, GET + b"\r\n")
    harness.reply(message["reply_channel"], {"request": {"method": "GET", "path": "/x"}})
    assert transport.value() == b""
    harness.reply(message["reply_channel"], {"status": 204})
    assert transport.value().startswith(b"HTTP/1.1 204")


def test_requests_are_refused_with_503_while_shutting_down(harness: Harness) -> None:
    harness.context.accepting = False
    message, transport = request(harness, GET + b"\r\n")
    assert message is None
    assert transport.value().startswith(b"HTTP/1.1 503")


def test_unix_socket_peer_has_no_client_address(harness: Harness) -> None:
    from twisted.internet.address import UNIXAddress
    from twisted.internet.testing import StringTransport

    protocol = harness.factory.buildProtocol(None)
    transport = StringTransport(hostAddress=UNIXAddress("/tmp/s"), peerAddress=UNIXAddress(None))
    protocol.makeConnection(transport)
    protocol.dataReceived(GET + b"\r\n")
    message = harness.receive("http.request")
    assert message["client"] is None and message["server"] is None


path_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=30,
)
# RFC 9110 5.5 field values: visible ASCII, obs-text (0x80-0xFF), inner spaces and tabs.
header_value = st.binary(min_size=0, max_size=40).filter(
    lambda v: all(b == 9 or 0x20 <= b <= 0x7E or b >= 0x80 for b in v) and v == v.strip()
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    segments=st.lists(path_text, max_size=4),
    query=st.binary(max_size=30).map(lambda q: quote(q, safe="=&").encode()),
    values=st.lists(header_value, max_size=4),
    body=st.binary(max_size=300),
)
def test_any_path_query_headers_and_body_round_trip(
    segments: list[str], query: bytes, values: list[bytes], body: bytes
) -> None:
    harness = make_harness(request_body_chunk_size=64)
    path = "/" + "/".join(segments)
    target = quote(path.encode("utf-8"), safe="/").encode() + (b"?" + query if query else b"")
    raw = b"POST " + target + b" HTTP/1.1\r\nHost: h\r\n"
    raw += b"".join(b"X-V: " + value + b"\r\n" for value in values)
    raw += b"Content-Length: %d\r\n\r\n" % len(body) + body
    protocol = harness.factory.buildProtocol(IPv4Address("TCP", "10.0.0.1", 1))
    from twisted.internet.testing import StringTransport

    protocol.makeConnection(StringTransport())
    protocol.dataReceived(raw)
    message = harness.receive("http.request")
    assert message is not None
    assert message["path"] == path
    assert message["query_string"] == query
    assert [v for n, v in message["headers"] if n == b"x-v"] == values
    received = message["body"]
    channel = message.get("body_channel")
    while channel:
        chunk = harness.receive(channel)
        received += chunk["content"]
        if not chunk["more_content"]:
            break
    assert received == body


def test_http10_response_is_not_chunked_and_closes(harness: Harness) -> None:
    message, transport = request(harness, b"GET /old HTTP/1.0\r\n\r\n")
    assert message["http_version"] == "1.0"
    harness.reply(message["reply_channel"], {"status": 200, "content": b"plain"})
    out = transport.value()
    assert out.startswith(b"HTTP/1.0 200") and b"chunked" not in out and out.endswith(b"plain")
    assert transport.disconnecting


def test_head_response_has_no_body(harness: Harness) -> None:
    message, transport = request(harness, b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
    assert message["method"] == "HEAD"
    harness.reply(message["reply_channel"], {"status": 200, "content": b"hidden"})
    assert b"hidden" not in transport.value()


def test_expect_continue_is_not_sent_for_a_refused_body() -> None:
    harness = make_harness(max_request_body_size=10)
    raw = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n"
    _message, transport = request(harness, raw)
    assert transport.value().startswith(b"HTTP/1.1 413")
    assert b"100 Continue" not in transport.value()
    harness = make_harness()
    raw = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
    protocol, transport = harness.connect()
    protocol.dataReceived(raw)
    assert transport.value().startswith(b"HTTP/1.1 100 Continue")
    protocol.dataReceived(b"abc")
    assert harness.receive("http.request")["body"] == b"abc"


def test_closed_connections_are_forgotten_by_the_shutdown_list(harness: Harness) -> None:
    protocol, _transport = harness.connect()
    assert len(harness.context.connections) == 1
    protocol.connectionLost(Failure(ConnectionLost("bye")))
    assert harness.context.connections == set()


def test_shutdown_closes_idle_keep_alive_and_lets_busy_connections_finish(
    harness: Harness,
) -> None:
    idle, idle_transport = harness.connect()
    busy, busy_transport = harness.connect()
    busy.dataReceived(GET + b"\r\n")
    message = harness.receive("http.request")
    for connection in list(harness.context.connections):
        connection.shutdown()
    assert idle_transport.disconnecting
    assert not busy_transport.disconnecting
    harness.reply(message["reply_channel"], {"status": 200, "content": b"done"})
    assert busy_transport.value().endswith(b"\r\n\r\ndone")
    assert busy_transport.disconnecting
    del idle, busy


def test_drain_waits_for_a_finished_response_to_be_written_before_it_ends(
    harness: Harness,
) -> None:
    # The reactor's shutdown closes sockets without flushing them, so the drain
    # must not end between a response finishing and its bytes leaving.
    protocol, transport = harness.connect()
    protocol.dataReceived(GET + b"\r\n")
    message = harness.receive("http.request")
    [channel] = harness.context.connections
    finished = harness.server(shutdown_timeout=10)._drain()
    harness.reply(message["reply_channel"], {"status": 200, "content": b"done"})
    assert not channel.is_busy() and transport.disconnecting
    harness.clock.advance(1)
    assert not finished.called, "the drain ended while the response could still be unsent"
    protocol.connectionLost(Failure(ConnectionLost("closed after writing")))
    harness.clock.advance(1)
    assert finished.called and not transport.disconnected


def test_drain_aborts_connections_still_open_at_the_deadline(harness: Harness) -> None:
    busy, busy_transport = harness.connect()
    busy.dataReceived(GET + b"\r\n")
    writing, writing_transport = harness.connect()
    writing.dataReceived(GET + b"\r\n")
    first, second = harness.receive("http.request"), harness.receive("http.request")
    finished = harness.server(shutdown_timeout=3)._drain()
    harness.reply(second["reply_channel"], {"status": 200, "content": b"done"})
    harness.clock.advance(2)
    assert not finished.called
    harness.clock.advance(2)
    assert finished.called
    assert busy_transport.disconnected and writing_transport.disconnected
    del first


def test_application_transfer_encoding_header_is_not_doubled(harness: Harness) -> None:
    message, transport = request(harness, GET + b"\r\n")
    reply = message["reply_channel"]
    harness.reply(
        reply,
        {"status": 200, "headers": [[b"transfer-encoding", b"chunked"]], "more_content": True},
    )
    harness.reply(reply, {"content": b"x"})
    assert transport.value().lower().count(b"transfer-encoding") == 1
    assert transport.value().endswith(b"1\r\nx\r\n0\r\n\r\n")


def test_shutdown_of_an_http2_connection_waits_for_its_streams(harness: Harness) -> None:
    protocol, transport = harness.connect()
    [channel] = harness.context.connections

    class FakeH2:
        streams: dict[int, object] = {1: object()}

    channel.switched_to = FakeH2()
    channel.shutdown()
    assert channel.is_busy() and not transport.disconnecting
    FakeH2.streams = {}
    assert not channel.is_busy()
    channel.shutdown()
    assert transport.disconnecting
    del protocol
