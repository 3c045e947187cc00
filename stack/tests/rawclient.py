"""Raw-socket HTTP and WebSocket clients that can send what real clients never would."""

from __future__ import annotations

import base64
import os
import socket
import struct

__all__ = ["RawResult", "frame", "read_frames", "send_raw_http", "ws_handshake"]

READ_TIMEOUT = 60.0


class RawResult:
    """What the server sent back on a raw connection: a status (or None) and the bytes."""

    def __init__(self, data: bytes, closed: bool) -> None:
        self.data = data
        self.closed = closed
        self.status: int | None = None
        if data.startswith(b"HTTP/"):
            parts = data.split(b"\r\n", 1)[0].split(b" ")
            if len(parts) >= 2 and parts[1].isdigit():
                self.status = int(parts[1])

    def __repr__(self) -> str:
        return f"RawResult(status={self.status}, closed={self.closed}, data={self.data[:200]!r})"


def send_raw_http(
    port: int, payload: bytes, host: str = "127.0.0.1", timeout: float = READ_TIMEOUT
) -> RawResult:
    """Send ``payload`` and read until the server closes or a full response head arrived.

    Raise TimeoutError if the server neither answers nor closes within ``timeout``.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        while b"\r\n\r\n" not in data:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return RawResult(data, closed=True)
            except TimeoutError as exc:
                raise TimeoutError(f"no answer and no close within {timeout}s: {data!r}") from exc
            if not chunk:
                return RawResult(data, closed=True)
            data += chunk
        return RawResult(data, closed=False)


def ws_handshake(
    port: int, path: str = "/ws", host: str = "127.0.0.1", extra: bytes = b""
) -> tuple[socket.socket, bytes]:
    """Open a WebSocket with a hand-written handshake; return the socket and the response head."""
    sock = socket.create_connection((host, port), timeout=READ_TIMEOUT)
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + f"{host}:{port}".encode() + b"\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\n" + extra + b"\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, head


def frame(
    opcode: int,
    payload: bytes,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    length_override: int | None = None,
) -> bytes:
    """Build one WebSocket frame, valid or not."""
    first = (0x80 if fin else 0) | (rsv & 0x7) << 4 | (opcode & 0xF)
    length = len(payload) if length_override is None else length_override
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head = struct.pack("!BB", first, mask_bit | length)
    elif length < 65536:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frames(
    sock: socket.socket, timeout: float = READ_TIMEOUT
) -> tuple[list[tuple[int, bytes]], bool]:
    """Read server frames until the connection closes; return ``(frames, closed)``.

    Raise TimeoutError if the server keeps the connection open for ``timeout`` seconds.
    """
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        except TimeoutError as exc:
            raise TimeoutError(f"server kept the socket open; got {data[:200]!r}") from exc
        if not chunk:
            break
        data += chunk
    frames: list[tuple[int, bytes]] = []
    while len(data) >= 2:
        opcode, length, offset = data[0] & 0xF, data[1] & 0x7F, 2
        if length == 126:
            (length,) = struct.unpack("!H", data[2:4])
            offset = 4
        elif length == 127:
            (length,) = struct.unpack("!Q", data[2:10])
            offset = 10
        frames.append((opcode, data[offset : offset + length]))
        data = data[offset + length :]
    return frames, True
