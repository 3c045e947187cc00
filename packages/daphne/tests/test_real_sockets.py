"""A real Daphne process (python -m daphne) with real clients: raw HTTP/1.1, httpx over
HTTP/2 + TLS, and the websockets library. The app is echo_app's in-process responder."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from daphne_process import DaphneProcess, self_signed_cert, wait_for
from websockets.exceptions import ConnectionClosed, InvalidStatus


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneProcess]:
    directory = tmp_path_factory.mktemp("daphne")
    key, cert = self_signed_cert(directory)
    access_log = directory / "access.log"
    unix_socket = directory / "daphne.sock"
    process = DaphneProcess(
        [
            "-p",
            "0",
            "-u",
            str(unix_socket),
            "-e",
            f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}",
            "-t",
            "3",
            "--access-log",
            str(access_log),
            "--max-body-size",
            "3000000",
            "--max-ws-message-size",
            "65536",
            "--ws-protocol",
            "graphql-ws",
            "--websocket-backpressure-timeout",
            "60",
            "--ping-interval",
            "1",
            "echo_app:channel_layer",
        ],
        env={"ECHO_APP_WS_CAPACITY": "5"},
    )
    process.access_log = access_log  # type: ignore[attr-defined]
    process.unix_socket = unix_socket  # type: ignore[attr-defined]
    yield process
    code = process.stop()
    assert code == 0, process.output()


def fetch(
    port: int,
    path: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Make one request on a fresh connection; return (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def raw_exchange(port: int, data: bytes, expect_responses: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        received = b""
        # Each echo response is one JSON object sent with a Content-Length.
        while received.count(b"HTTP/1.1 ") < expect_responses or not received.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def test_keep_alive_and_pipelined_requests_on_one_socket(server: DaphneProcess) -> None:
    data = (
        b"GET /echo/one HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
        b"GET /echo/two?q=%20 HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    received = raw_exchange(server.port, data, 2)
    assert received.count(b"HTTP/1.1 200 OK") == 2
    assert received.index(b'"/echo/one"') < received.index(b'"/echo/two"')


def test_request_fields_over_a_real_socket(server: DaphneProcess) -> None:
    status, headers, body = fetch(
        server.port, "/echo/%E2%9C%93?a=%20b", headers={"X-Test": "1", "X_Spoof": "2"}
    )
    assert status == 200
    assert headers["x-echo"] == "1"
    message = json.loads(body)
    assert message["path"] == "/echo/\u2713"
    assert message["query_string"] == "a=%20b"
    assert message["client"][0] == "127.0.0.1"
    assert message["server"] == ["127.0.0.1", server.port]
    assert ["x-test", "1"] in message["headers"]
    assert not any("_" in name for name, _ in message["headers"])


def test_large_body_streams_in_chunks(server: DaphneProcess) -> None:
    body = bytes(range(256)) * 8000  # 2 MB
    result = json.loads(fetch(server.port, "/body", "POST", body=body)[2])
    assert result["length"] == len(body)
    assert result["sha256"] == hashlib.sha256(body).hexdigest()
    assert result["chunks"] >= 2


def test_body_over_limit_gets_413(server: DaphneProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 413")


def test_streaming_response_is_chunked(server: DaphneProcess) -> None:
    _status, headers, body = fetch(server.port, "/stream")
    assert headers["transfer-encoding"] == "chunked"
    assert body == b"chunk0\nchunk1\nchunk2\nend\n"


def test_large_response_to_a_client_that_reads_late_arrives_whole(server: DaphneProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request("GET", "/large")
        time.sleep(1.0)  # not reading: Daphne's socket buffer fills and its writes go partial
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 200
    assert body == b"".join(bytes([index]) * 262_144 for index in range(8))


def test_no_reply_gives_503_after_http_timeout(server: DaphneProcess) -> None:
    assert fetch(server.port, "/never")[0] == 503


def test_http2_over_tls(server: DaphneProcess) -> None:
    with httpx.Client(http2=True, verify=False, timeout=30) as client:
        response = client.get(f"https://127.0.0.1:{server.ports['ssl']}/echo/h2?x=1")
        assert response.http_version == "HTTP/2"
        message = response.json()
        assert message["http_version"] == "2"
        assert message["scheme"] == "https"
        assert message["query_string"] == "x=1"
        posted = client.post(f"https://127.0.0.1:{server.ports['ssl']}/body", content=b"x" * 70000)
        assert posted.json()["length"] == 70000


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def test_websocket_accept_frames_both_ways_and_close_code(server: DaphneProcess) -> None:
    async def scenario() -> tuple[object, ...]:
        url = f"ws://127.0.0.1:{server.port}/chat/?room=1"
        async with websockets.connect(url, subprotocols=["nope", "graphql-ws"]) as ws:
            subprotocol = ws.subprotocol
            await ws.send("hello")
            text = await ws.recv()
            await ws.send(b"\x00\xff")
            data = await ws.recv()
            pong = await ws.ping()
            await asyncio.wait_for(pong, 10)
            await ws.send("close:4001")
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            return subprotocol, text, data, closed.value.rcvd.code

    assert run(scenario()) == ("graphql-ws", "hello", b"\x00\xff", 4001)


def test_websocket_reject_gives_403(server: DaphneProcess) -> None:
    async def scenario() -> int:
        with pytest.raises(InvalidStatus) as rejected:
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/reject"):
                pass
        return rejected.value.response.status_code

    assert run(scenario()) == 403


def test_websocket_oversize_message_closes_1009(server: DaphneProcess) -> None:
    async def scenario() -> int:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/big", max_size=None) as ws:
            await ws.send(b"x" * 100_000)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            return closed.value.rcvd.code

    assert run(scenario()) == 1009


@pytest.mark.parametrize("secure", [False, True])
def test_websocket_burst_while_worker_stalls_is_not_a_disconnect(
    server: DaphneProcess, secure: bool
) -> None:
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    port = server.ports["ssl"] if secure else server.port
    url = f"{'wss' if secure else 'ws'}://127.0.0.1:{port}/burst"

    async def scenario() -> list[str]:
        async with websockets.connect(url, ssl=context if secure else None) as ws:
            await ws.send("stall:1.5")
            for index in range(60):
                await ws.send(f"m{index}")
            return [await ws.recv() for _ in range(61)]

    replies = run(scenario())
    assert replies == ["stall:1.5"] + [f"m{index}" for index in range(60)]
    # The burst really hit the full channel (capacity 5) and was absorbed by pausing.
    assert wait_for(lambda: "pausing reads" in server.output())


def test_websocket_keepalive_pings_keep_idle_socket_open(server: DaphneProcess) -> None:
    async def scenario() -> str:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/idle") as ws:
            await asyncio.sleep(2.5)  # several server pings (interval 1 s) answered by the client
            await ws.send("still")
            return await ws.recv()

    assert run(scenario()) == "still"


def test_disconnects_and_access_log_are_recorded(server: DaphneProcess) -> None:
    async def scenario() -> None:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/logged/") as ws:
            await ws.send("x")
            await ws.recv()

    run(scenario())

    def events() -> list[dict]:
        return json.loads(fetch(server.port, "/events")[2])

    assert wait_for(lambda: any(e["path"] == "/logged/" for e in events()))
    disconnect = next(e for e in events() if e["path"] == "/logged/")
    assert disconnect["channel"] == "websocket.disconnect"
    assert disconnect["order"] == 2 and disconnect["code"] == 1000
    log: Path = server.access_log  # type: ignore[attr-defined]
    assert wait_for(lambda: '"WSDISCONNECT /logged/"' in log.read_text())
    text = log.read_text()
    assert '"WSCONNECTING /logged/"' in text and '"WSCONNECT /logged/"' in text
    assert '"WSREJECT /reject"' in text
    assert '"GET /stream" 200' in text


def test_unix_socket_serves_http_with_no_client_address(server: DaphneProcess) -> None:
    path = str(server.unix_socket)  # type: ignore[attr-defined]
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(30)
        sock.connect(path)
        sock.sendall(b"GET /echo/unix HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    assert b'"client": null' in received and b'"path": "/echo/unix"' in received


def test_http2_drops_connection_specific_headers_from_the_app(server: DaphneProcess) -> None:
    with httpx.Client(http2=True, verify=False, timeout=30) as client:
        response = client.get(f"https://127.0.0.1:{server.ports['ssl']}/hop")
        assert response.http_version == "HTTP/2"
        assert response.content == b"hop"
        assert "connection" not in response.headers
    status, headers, body = fetch(server.port, "/hop")
    assert (status, body) == (200, b"hop")
    assert headers["content-length"] == "3" and "transfer-encoding" not in headers


def test_http2_body_over_limit_gets_413(server: DaphneProcess) -> None:
    with httpx.Client(http2=True, verify=False, timeout=60) as client:
        response = client.post(
            f"https://127.0.0.1:{server.ports['ssl']}/body", content=b"x" * 3_500_000
        )
        assert response.http_version == "HTTP/2"
        assert response.status_code == 413


def test_secure_websocket_reports_wss_scheme(server: DaphneProcess) -> None:
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    async def scenario() -> tuple[str, str]:
        url = f"wss://127.0.0.1:{server.ports['ssl']}/scheme"
        async with websockets.connect(url, ssl=context) as ws:
            scheme = await ws.recv()
            await ws.send("over tls")
            return scheme, await ws.recv()

    assert run(scenario()) == ("wss", "over tls")


def test_slow_reading_client_still_gets_every_frame(server: DaphneProcess) -> None:
    async def scenario() -> list[str]:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/slow", max_queue=4) as ws:
            payloads = [f"{index:04d}" + "y" * 20_000 for index in range(40)]
            for payload in payloads:
                await ws.send(payload)
            await asyncio.sleep(1.5)  # not reading: replies pile up in TCP buffers
            received = [await ws.recv() for _ in payloads]
            return [text[:4] for text in received]

    assert run(scenario()) == [f"{index:04d}" for index in range(40)]
