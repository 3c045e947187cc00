"""Helpers for driving Daphne's protocols without sockets (StringTransport + Clock)."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any

from asgiref.inmemory import ChannelLayer
from daphne.context import ServerContext
from daphne.options import ServerOptions
from daphne.server import HTTPFactory, Server
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

CLIENT = IPv4Address("TCP", "10.1.2.3", 50123)
SERVER = IPv4Address("TCP", "127.0.0.1", 8000)


@dataclass
class Harness:
    """A server context on a fake clock, plus the actions and layer it uses."""

    layer: ChannelLayer
    clock: Clock
    context: ServerContext
    factory: HTTPFactory
    actions: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def connect(self, peer: IPv4Address = CLIENT) -> tuple[Any, StringTransport]:
        """Open a fake connection; return (protocol, transport)."""
        protocol = self.factory.buildProtocol(peer)
        transport = StringTransport(hostAddress=SERVER, peerAddress=peer)
        protocol.makeConnection(transport)
        return protocol, transport

    def flush(self) -> None:
        """End the reactor turn: the batched sends queued so far go to the layer."""
        self.clock.advance(0)

    def receive(self, channel: str) -> dict[str, Any] | None:
        """Flush the batched sends, then return the next message on ``channel`` or None."""
        self.flush()
        name, message = self.layer.receive([channel])
        return message if name is not None else None

    def reply(self, reply_channel: str, message: dict[str, Any]) -> None:
        """Deliver an application reply the way the reply reader would."""
        self.context.dispatch(reply_channel, message)

    def server(self, **options: Any) -> Server:
        """Return a Server on this context and clock, to drive its graceful shutdown."""
        server = Server(self.layer, ["tcp:port=0"], signal_handlers=False, **options)
        server.context = self.context
        server.reactor = self.clock
        return server


def make_harness(layer: ChannelLayer | None = None, **options: Any) -> Harness:
    """Build a harness with ``options`` overriding the ServerOptions defaults."""
    layer = layer or ChannelLayer()
    clock = Clock()
    actions: list[tuple[str, str, dict[str, Any]]] = []
    context = ServerContext(
        layer,
        ServerOptions(**options),
        clock,
        action_logger=lambda p, a, d: actions.append((p, a, dict(d))),
    )
    return Harness(layer, clock, context, HTTPFactory(context), actions)


def ws_frame(payload: bytes, opcode: int = 1, fin: bool = True) -> bytes:
    """Encode one masked client frame (RFC 6455)."""
    mask = os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def parse_server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Decode unmasked server frames into (opcode, payload) pairs."""
    frames = []
    while len(data) >= 2:
        opcode = data[0] & 0x0F
        length = data[1] & 0x7F
        offset = 2
        if length == 126:
            (length,) = struct.unpack("!H", data[2:4])
            offset = 4
        elif length == 127:
            (length,) = struct.unpack("!Q", data[2:10])
            offset = 10
        frames.append((opcode, data[offset : offset + length]))
        data = data[offset + length :]
    return frames


UPGRADE = (
    b"GET /chat/room?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\n"
)
