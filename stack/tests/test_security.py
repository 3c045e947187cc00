"""Security tests: malformed input, limits, origins, proxy headers, names and encryption.

One module-wide deployment: a recording worker (stack_site) and three Daphne
processes on one Redis prefix: ``strict`` with small limits and an Origin
allow-list, ``proxied`` with ``--proxy-headers``, ``guarded`` with proxy
headers trusted only from 10.9.9.0/24. Every malformed input carries a unique
marker; the worker's record files prove it never reached the channel layer.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis
import websockets
from conftest import require_rabbitmq, require_redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rawclient import frame, read_frames, send_raw_http, ws_handshake
from stackharness import RABBITMQ_URL, REDIS_URL, Proc, Site, wait_until
from websockets.exceptions import ConnectionClosed, InvalidStatus

pytestmark = [pytest.mark.services]

GOOD_ORIGIN = "http://good.example"
MAX_BODY = 1000
MAX_WS = 1000
MAX_HEADERS = 20
MAX_HEADER_SIZE = 2000
TIMEOUT = 60.0


@dataclass
class Deployment:
    site: Site
    strict: Proc
    proxied: Proc
    guarded: Proc


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployment]:
    require_redis()
    site = Site()
    try:
        site.start_worker(wait=False)
        proxied = site.start_daphne("--proxy-headers")
        guarded = site.start_daphne("--proxy-headers", "--proxy-headers-trusted", "10.9.9.0/24")
        strict = site.start_daphne(
            *("--max-body-size", str(MAX_BODY), "--max-ws-message-size", str(MAX_WS)),
            *("--max-headers", str(MAX_HEADERS), "--max-header-size", str(MAX_HEADER_SIZE)),
            *("--ws-allowed-origin", GOOD_ORIGIN, "--keep-alive-timeout", "3"),
            *("--request-head-timeout", "6"),
            "--http-timeout",
            "30",
        )
        site.workers[0].wait_for(r"Listening on channels")
        yield Deployment(site, strict, proxied, guarded)
    finally:
        site.close()


def marker() -> str:
    """Return a unique token to look for in what the worker received."""
    return f"mk{secrets.token_hex(6)}"


def sync_worker(deployed: Deployment) -> None:
    """Return once the worker has handled every message sent before this call."""
    token = marker()
    response = httpx.get(f"http://127.0.0.1:{deployed.strict.port}/{token}", timeout=TIMEOUT)
    assert response.status_code == 200
    assert token in deployed.site.raw_records()


def assert_alive(deployed: Deployment) -> None:
    for proc in (deployed.strict, deployed.site.workers[0]):
        assert proc.popen.poll() is None, deployed.site.output()


# Fuzzing malformed HTTP requests ---------------------------------------------------------------

_TOKEN = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-",
    min_size=1,
    max_size=12,
)
# Controls other than HTAB must be rejected in header values (RFC 9110 5.5).
_CONTROL = st.sampled_from(
    [b"\x00", b"\r", b"\x00\x00", b"a\rb", b"\x01", b"\x0b", b"\x1b", b"\x7f"]
)


@st.composite
def malformed_requests(draw: st.DrawFn, token: str) -> bytes:
    """Draw an HTTP/1.1 request with exactly one defect; ``token`` is in its path."""
    path = f"/fuzz/{token}".encode()
    name = draw(_TOKEN).encode()
    value = draw(_TOKEN).encode()
    head_ok = b"Host: x\r\n"
    kind = draw(st.integers(0, 11))
    if kind == 0:  # a method with separators or controls
        method = draw(_TOKEN).encode() + draw(st.sampled_from([b"(", b"@", b",", b"\x00", b"\x7f"]))
        return method + b" " + path + b" HTTP/1.1\r\n" + head_ok + b"\r\n"
    if kind == 1:  # a broken version
        version = draw(
            st.sampled_from([b"HTTX/1.1", b"HTTP/1.1.1", b"HTTP/a.b", b"HTTP/", b"", b"http/1.1 x"])
        )
        return b"GET " + path + b" " + version + b"\r\n" + head_ok + b"\r\n"
    if kind == 2:  # a header line without a colon
        return b"GET " + path + b" HTTP/1.1\r\n" + head_ok + name + b" " + value + b"\r\n\r\n"
    if kind == 3:  # whitespace between header name and colon (RFC 9112 5.1: reject)
        return b"GET " + path + b" HTTP/1.1\r\n" + head_ok + name + b" : " + value + b"\r\n\r\n"
    if kind == 4:  # separators inside a header name
        bad = name + draw(st.sampled_from([b"(", b")", b"<", b"@", b'"', b"/", b"[", b"{"])) + name
        return b"GET " + path + b" HTTP/1.1\r\n" + head_ok + bad + b": " + value + b"\r\n\r\n"
    if kind == 5:  # control characters inside a header value
        bad = value + draw(_CONTROL) + value
        return (
            b"GET " + path + b" HTTP/1.1\r\n" + head_ok + b"X-" + name + b": " + bad + b"\r\n\r\n"
        )
    if kind == 6:  # an unusable Content-Length
        length = draw(st.sampled_from([b"abc", b"-1", b"1, 2", b"+5", b"0x10", b"5 5", b""]))
        return (
            b"POST "
            + path
            + b" HTTP/1.1\r\n"
            + head_ok
            + b"Content-Length: "
            + length
            + b"\r\n\r\nhello"
        )
    if kind == 7:  # two different Content-Lengths (request smuggling)
        return (
            b"POST "
            + path
            + b" HTTP/1.1\r\n"
            + head_ok
            + b"Content-Length: 3\r\nContent-Length: 5\r\n\r\nhello"
        )
    if kind == 8:  # a broken chunked body
        size = draw(st.sampled_from([b"zz", b"-1", b"", b"1;" + b"x" * 3, b"ffffffffffffffffffff"]))
        return (
            b"POST "
            + path
            + b" HTTP/1.1\r\n"
            + head_ok
            + b"Transfer-Encoding: chunked\r\n\r\n"
            + size
            + b"\r\nabc\r\n0\r\n\r\n"
        )
    if kind == 9:  # an unknown transfer coding
        coding = draw(
            st.sampled_from([b"gzip", b"chunked, identity", b"x" + name, b"chunked, gzip"])
        )
        return (
            b"POST "
            + path
            + b" HTTP/1.1\r\n"
            + head_ok
            + b"Transfer-Encoding: "
            + coding
            + b"\r\n\r\nabc"
        )
    if kind == 10:  # a request target that is not origin-form, absolute-form, or '*'
        target = draw(st.sampled_from([b"fuzz/", b"..", b"%2F", b"\\"])) + token.encode()
        return b"GET " + target + b" HTTP/1.1\r\n" + head_ok + b"\r\n"
    # kind 11: spaces or controls inside the request target (RFC 9112 3.2)
    bad = (
        path
        + draw(st.sampled_from([b" x", b"\x00", b"\t", b" ", b"\x01", b"\x1b", b"\x7f"]))
        + b"z"
    )
    return b"GET " + bad + b" HTTP/1.1\r\n" + head_ok + b"\r\n"


def test_fuzzed_malformed_http_gets_400_or_close_and_reaches_no_worker(
    deployed: Deployment,
) -> None:
    sent: list[tuple[str, bytes, object]] = []

    @settings(
        max_examples=120,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        token = marker()
        payload = data.draw(malformed_requests(token))
        result = send_raw_http(deployed.strict.port, payload)
        sent.append((token, payload, result))
        assert result.status is None or 400 <= result.status < 500 or result.status in (501, 505), (
            payload,
            result,
        )
        assert result.status is not None or result.closed

    run()
    assert_alive(deployed)
    sync_worker(deployed)
    records = deployed.site.raw_records()
    forwarded = [(payload, result) for token, payload, result in sent if token in records]
    assert not forwarded, forwarded


def test_control_characters_in_header_values_are_rejected(deployed: Deployment) -> None:
    token = marker()
    results = [
        send_raw_http(
            deployed.strict.port,
            f"GET /ctl/{token} HTTP/1.1\r\nHost: x\r\nX-Bad: a{char}b\r\n\r\n".encode(),
        )
        for char in ("\x01", "\x0b", "\x1b", "\x7f")
    ]
    sync_worker(deployed)
    assert token not in deployed.site.raw_records(), results
    assert all(result.status == 400 for result in results), results


def test_control_characters_in_the_request_target_are_rejected(deployed: Deployment) -> None:
    token = marker()
    results = [
        send_raw_http(
            deployed.strict.port,
            f"GET /ctl/{token}{char}z HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        )
        for char in ("\x01", "\x1b", "\x7f")
    ]
    sync_worker(deployed)
    assert token not in deployed.site.raw_records(), results
    assert all(result.status == 400 for result in results), results


def test_valid_request_with_a_marker_reaches_the_worker(deployed: Deployment) -> None:
    """Check the fuzz test's detector: a well-formed request with a marker is recorded."""
    token = marker()
    result = send_raw_http(
        deployed.strict.port, b"GET /fuzz/" + token.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert result.status == 200
    sync_worker(deployed)
    assert token in deployed.site.raw_records()


# Fuzzing malformed WebSocket frames ------------------------------------------------------------


@st.composite
def malformed_frames(draw: st.DrawFn, token: bytes) -> bytes:
    """Draw bytes with one WebSocket framing defect; ``token`` is in their payload."""
    kind = draw(st.integers(0, 8))
    extra = draw(st.binary(max_size=20))
    if kind == 0:  # reserved bits without an extension
        return frame(1, token + extra.hex().encode(), rsv=draw(st.integers(1, 7)))
    if kind == 1:  # a reserved opcode
        return frame(draw(st.sampled_from([3, 4, 5, 6, 7, 11, 12, 13, 14, 15])), token + extra)
    if kind == 2:  # a client frame without a mask
        return frame(1, token, masked=False)
    if kind == 3:  # a fragmented control frame
        return frame(9, token, fin=False)
    if kind == 4:  # a control frame over 125 bytes
        return frame(draw(st.sampled_from([8, 9, 10])), token + b"x" * 130)
    if kind == 5:  # text that is not UTF-8
        return frame(
            1,
            token
            + draw(
                st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
            ),
        )
    if kind == 6:  # a continuation with nothing to continue
        return frame(0, token)
    if kind == 7:  # a new data frame inside a fragmented message
        return frame(1, token, fin=False) + frame(draw(st.sampled_from([1, 2])), token)
    # kind 8: a close frame with a forbidden code or a one-byte body
    body = draw(
        st.sampled_from(
            [b"\x03", b"\x00\x00", b"\x03\xe7", b"\x03\xed", b"\x03\xee", b"\x13\x88", b"\x03\xec"]
        )
    )
    return frame(8, body + token)


def test_fuzzed_malformed_websocket_frames_close_the_socket_and_reach_no_worker(
    deployed: Deployment,
) -> None:
    sent: list[tuple[str, bytes]] = []

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        token = marker()
        payload = data.draw(malformed_frames(token.encode()))
        sock, head = ws_handshake(deployed.strict.port, path=f"/ws/{marker()}")
        with sock:
            assert head.startswith(b"HTTP/1.1 101"), head
            try:
                sock.sendall(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass
            frames, _ = read_frames(sock)
        sent.append((token, payload))
        closes = [body for opcode, body in frames if opcode == 8]
        data_frames = [
            body for opcode, body in frames if opcode in (1, 2) and token.encode() in body
        ]
        assert not data_frames, (payload, frames)
        if closes and len(closes[0]) >= 2:
            code = int.from_bytes(closes[0][:2], "big")
            assert code in (1002, 1007, 1003), (payload, code)

    run()
    assert_alive(deployed)
    sync_worker(deployed)
    records = deployed.site.raw_records()
    forwarded = [payload for token, payload in sent if token in records]
    assert not forwarded, forwarded


def test_valid_frame_with_a_marker_is_echoed_and_recorded(deployed: Deployment) -> None:
    token = marker()
    sock, head = ws_handshake(deployed.strict.port)
    with sock:
        assert head.startswith(b"HTTP/1.1 101"), head
        sock.sendall(frame(1, token.encode()))
        echoed = b""
        while token.encode() not in echoed:
            chunk = sock.recv(4096)
            assert chunk, echoed
            echoed += chunk
        sock.sendall(frame(8, b"\x03\xe8"))
        frames, _ = read_frames(sock)
    assert frames and frames[-1][0] == 8
    assert token in deployed.site.raw_records()


# Limits -----------------------------------------------------------------------------------------


def test_oversized_body_gets_413_and_reaches_no_worker(deployed: Deployment) -> None:
    token = marker()
    response = httpx.post(
        f"http://127.0.0.1:{deployed.strict.port}/big/{token}",
        content=b"x" * (MAX_BODY + 1),
        timeout=TIMEOUT,
    )
    assert response.status_code == 413
    # Announced but never sent: refused from the headers alone.
    head = f"POST /big/{token}x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n"
    assert send_raw_http(deployed.strict.port, head.encode()).status == 413
    ok = httpx.post(
        f"http://127.0.0.1:{deployed.strict.port}/fits", content=b"x" * MAX_BODY, timeout=TIMEOUT
    )
    assert ok.status_code == 200
    sync_worker(deployed)
    assert token not in deployed.site.raw_records()


@pytest.mark.parametrize(
    "headers",
    [
        [(f"X-Many-{n}", "v") for n in range(MAX_HEADERS + 5)],
        [("X-Huge", "v" * (MAX_HEADER_SIZE + 10))],
    ],
    ids=["too-many", "too-large"],
)
def test_too_many_or_too_large_headers_get_400_or_431(
    deployed: Deployment, headers: list[tuple[str, str]]
) -> None:
    token = marker()
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
    result = send_raw_http(
        deployed.strict.port, f"GET /h/{token} HTTP/1.1\r\nHost: x\r\n{lines}\r\n".encode()
    )
    assert result.status in (400, 431), result
    sync_worker(deployed)
    assert token not in deployed.site.raw_records()


def test_oversized_websocket_message_closes_with_1009(deployed: Deployment) -> None:
    token = marker()

    async def talk() -> tuple[str, int | None]:
        async with websockets.connect(
            f"ws://127.0.0.1:{deployed.strict.port}/ws", open_timeout=TIMEOUT, max_size=None
        ) as socket_:
            await socket_.send("fits")
            echoed = await asyncio.wait_for(socket_.recv(), TIMEOUT)
            await socket_.send(token + "x" * MAX_WS)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket_.recv(), TIMEOUT)
            code = closed.value.rcvd.code if closed.value.rcvd else None
            return str(echoed), code

    echoed, code = asyncio.run(talk())
    assert echoed == "fits"
    assert code == 1009
    sync_worker(deployed)
    assert token not in deployed.site.raw_records()


def test_slowloris_clients_time_out_without_starving_others(deployed: Deployment) -> None:
    port = deployed.strict.port
    stalled = []
    for _ in range(30):
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        sock.sendall(b"GET /slowloris HTTP/1.1\r\nHost: x\r\nX-Part: ")
        stalled.append(sock)
    try:
        # Others are served while the slow clients hold their sockets.
        for _ in range(5):
            assert httpx.get(f"http://127.0.0.1:{port}/hello", timeout=TIMEOUT).status_code == 200
        # Each stalled client is cut off after --keep-alive-timeout (3 s) without data.
        begun = time.monotonic()
        for sock in stalled:
            sock.settimeout(max(1.0, TIMEOUT - (time.monotonic() - begun)))
            try:
                while sock.recv(4096):
                    pass
            except ConnectionResetError:
                pass
    finally:
        for sock in stalled:
            sock.close()
    assert "/slowloris" not in deployed.site.raw_records()


def test_trickling_slowloris_is_cut_off_within_a_bounded_time(deployed: Deployment) -> None:
    sock = socket.create_connection(("127.0.0.1", deployed.strict.port), timeout=TIMEOUT)
    with sock:
        sock.sendall(b"GET /trickle HTTP/1.1\r\nHost: x\r\nX-Part: ")
        begun = time.monotonic()
        cut_off = False
        while time.monotonic() - begun < 15:  # five keep-alive timeouts
            try:
                sock.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                cut_off = True
                break
            time.sleep(1)
        if not cut_off:
            sock.settimeout(1)
            try:
                cut_off = sock.recv(4096) == b""
            except TimeoutError:
                cut_off = False
            except ConnectionResetError:
                cut_off = True
    assert cut_off


# Origins and proxy headers ----------------------------------------------------------------------


def _ws_status(port: int, path: str, origin: str | None) -> int:
    async def connect() -> int:
        headers = {"Origin": origin} if origin else {}
        try:
            async with websockets.connect(
                f"ws://127.0.0.1:{port}{path}", additional_headers=headers, open_timeout=TIMEOUT
            ):
                return 101
        except InvalidStatus as exc:
            return int(exc.response.status_code)

    return asyncio.run(connect())


def test_foreign_origin_is_rejected_before_reaching_a_worker(deployed: Deployment) -> None:
    port = deployed.strict.port
    foreign, good, none = marker(), marker(), marker()
    assert _ws_status(port, f"/o/{foreign}", "http://evil.example") == 403
    assert _ws_status(port, f"/o/{foreign}", "http://good.example.evil.example") == 403
    assert _ws_status(port, f"/o/{good}", GOOD_ORIGIN) == 101
    assert _ws_status(port, f"/o/{none}", None) == 101
    sync_worker(deployed)
    records = deployed.site.raw_records()
    assert foreign not in records
    assert good in records and none in records


def _echo(port: int) -> dict[str, object]:
    response = httpx.get(
        f"http://127.0.0.1:{port}/echo",
        headers={
            "X-Forwarded-For": "203.0.113.9, 10.0.0.1",
            "X-Forwarded-Port": "4443",
            "X-Forwarded-Proto": "https",
        },
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    return dict(json.loads(response.text))


def test_proxy_headers_are_ignored_unless_enabled_and_trusted(deployed: Deployment) -> None:
    plain = _echo(deployed.strict.port)
    assert plain["client"][0] == "127.0.0.1"  # type: ignore[index]
    assert plain["scheme"] == "http"
    untrusted = _echo(deployed.guarded.port)
    assert untrusted["client"][0] == "127.0.0.1"  # type: ignore[index]
    assert untrusted["scheme"] == "http"
    enabled = _echo(deployed.proxied.port)
    assert enabled["client"] == ["203.0.113.9", 4443]
    assert enabled["scheme"] == "https"


# Names from clients ---------------------------------------------------------------------------


def test_paths_and_headers_never_become_channel_names(deployed: Deployment) -> None:
    token = marker()
    strict = deployed.strict
    response = httpx.get(
        f"http://127.0.0.1:{strict.port}/daphne.response.{token}!x",
        headers={"Reply-Channel": f"websocket.receive{token}", "X-Channel": f"http.request{token}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    extra = f"GET /{token}u HTTP/1.1\r\nHost: x\r\nreply_channel: evil{token}\r\n\r\n"
    assert send_raw_http(strict.port, extra.encode()).status == 200
    sync_worker(deployed)
    mine = [r for r in deployed.site.records() if token in json.dumps(r)]
    assert len(mine) == 4  # start and done of both requests
    for record in mine:
        assert record["channel"] == "http.request"
        assert record["content"]["reply_channel"].startswith(strict.reply_prefix)
        assert token not in record["content"]["reply_channel"]
    # Underscore header names are dropped, so they cannot pose as dash-named ones.
    assert all(f"evil{token}" not in json.dumps(r["content"]["headers"]) for r in mine)


def test_group_names_from_clients_stay_under_the_site_prefix(deployed: Deployment) -> None:
    token = marker()
    site = deployed.site

    async def talk() -> list[str]:
        async with websockets.connect(
            f"ws://127.0.0.1:{deployed.strict.port}/ws", open_timeout=TIMEOUT
        ) as socket_:
            await socket_.send(f"join:{token}")
            got = [str(await asyncio.wait_for(socket_.recv(), TIMEOUT))]
            # Crafted names: other prefixes, key separators, process channels; all refused.
            for crafted in (f"x:asgi:{token}", f"../{token}", f"{token}!evil", f"{token} x"):
                await socket_.send(f"join:{crafted}")
            await socket_.send(f"say:{token}:hi")
            got.append(str(await asyncio.wait_for(socket_.recv(), TIMEOUT)))
            return got

    assert asyncio.run(talk()) == ["joined", "hi"]
    assert_alive(deployed)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [key.decode() for key in client.scan_iter(f"*{token}*", count=1000)]
    finally:
        client.close()
    assert keys, "the valid group should exist in Redis"
    assert all(key.startswith(f"{site.prefix}:") for key in keys), keys
    assert not any("evil" in key or "asgi:" + token in key for key in keys), keys


def test_layer_prefix_isolates_two_sites_on_one_redis() -> None:
    require_redis()
    from asgi_redis import RedisChannelLayer

    one = RedisChannelLayer(hosts=[REDIS_URL], prefix=f"{marker()}:", receive_timeout=1)
    two = RedisChannelLayer(hosts=[REDIS_URL], prefix=f"{marker()}:", receive_timeout=1)
    try:
        one.send("http.request", {"site": 1})
        one.group_add("room", "daphne.response.one!a")
        two.group_add("room", "daphne.response.two!b")
        assert two.receive(["http.request"]) == (None, None)
        assert two.group_channels("room") == ["daphne.response.two!b"]
        two.send_group("room", {"site": 2})
        assert one.receive(["daphne.response.one!"], block=True) == (None, None)
        assert two.receive(["daphne.response.two!"], block=True)[1] == {"site": 2}
        assert one.receive(["http.request"]) == ("http.request", {"site": 1})
    finally:
        for layer in (one, two):
            layer.flush()
            layer.close()


# Encryption at rest -----------------------------------------------------------------------------


def _redis_values(url: str, prefix: str) -> bytes:
    """Return every byte stored under ``prefix`` (keys and values) in one blob."""
    client = redis.Redis.from_url(url)
    blob = b""
    try:
        for key in client.scan_iter(f"{prefix}*", count=1000):
            blob += key + b"\n"
            kind = client.type(key)
            if kind == b"string":
                blob += client.get(key) or b""
            elif kind == b"list":
                blob += b"".join(client.lrange(key, 0, -1))
            elif kind == b"zset":
                blob += b"".join(client.zrange(key, 0, -1))
            elif kind == b"hash":
                blob += b"".join(k + v for k, v in client.hgetall(key).items())
            elif kind == b"set":
                blob += b"".join(client.smembers(key))
            elif kind == b"stream":
                blob += repr(client.xrange(key)).encode()
    finally:
        client.close()
    return blob


def test_encrypted_redis_layer_leaves_no_plaintext_while_a_request_is_queued() -> None:
    require_redis()
    site = Site(encryption_key=secrets.token_hex(16))
    try:
        site.start_daphne("--http-timeout", "60")  # no worker: the request stays queued
        token = marker()
        secret_body = f"card-number-{token}".encode()

        def post() -> None:
            try:
                httpx.post(f"{site.url}/pay/{token}", content=secret_body, timeout=5)
            except httpx.TimeoutException:
                pass

        post()
        stored = wait_until(lambda: _redis_values(REDIS_URL, site.prefix) or None, 30)
        assert stored and len(stored) > len(secret_body), stored
        assert token.encode() not in stored
        assert b"card-number" not in stored
    finally:
        site.close()

    # The same inspection finds the plaintext when the layer does not encrypt.
    from asgi_redis import RedisChannelLayer

    plain = RedisChannelLayer(hosts=[REDIS_URL], prefix=f"{marker()}:")
    try:
        plain.send("http.request", {"body": secret_body})
        assert token.encode() in _redis_values(REDIS_URL, plain.prefix)
    finally:
        plain.flush()
        plain.close()


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "plain-control"])
def test_encrypted_rabbitmq_layer_leaves_no_plaintext_in_the_queue(encrypted: bool) -> None:
    require_rabbitmq()
    import pika
    from asgi_rabbitmq import RabbitmqChannelLayer

    prefix = marker()
    keys = [secrets.token_hex(16)] if encrypted else None
    layer = RabbitmqChannelLayer(RABBITMQ_URL, prefix=prefix, symmetric_encryption_keys=keys)
    token = marker()
    try:
        layer.send("payments", {"text": f"card-number-{token}"})
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        try:
            channel = connection.channel()
            _, _, body = channel.basic_get(f"{prefix}.payments", auto_ack=False)
            assert body, "the message should be queued"
            channel.basic_nack(delivery_tag=1, requeue=True)
        finally:
            connection.close()
        assert (token.encode() in body) is not encrypted
        if encrypted:
            assert b"card-number" not in body
            assert layer.receive(["payments"]) == ("payments", {"text": f"card-number-{token}"})
    finally:
        layer.flush()
        layer.close()
