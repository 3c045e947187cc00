"""WriteCoalescer: one doWrite per loop iteration, Twisted's path when the socket is full."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from daphne.write_coalescing import WriteCoalescer, install_write_coalescing
from twisted.internet import tcp


class FakeLoop:
    def __init__(self) -> None:
        self.ready: list[Callable[[], None]] = []

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.ready.append(callback)

    def run_ready(self) -> None:
        ready, self.ready = self.ready, []
        for callback in ready:
            callback()


class FakeTransport:
    """Twisted's FileDescriptor buffering, with a socket that takes ``room`` bytes."""

    def __init__(self, room: int = 1 << 20) -> None:
        self.connected = True
        self.dataBuffer = b""
        self.offset = 0
        self._tempDataBuffer: list[bytes] = []
        self.room = room
        self.sent: list[bytes] = []
        self.registered = 0

    def startWriting(self) -> None:
        self.registered += 1

    def write(self, data: bytes) -> None:
        self._tempDataBuffer.append(data)
        self.startWriting()

    def doWrite(self) -> None:
        data = self.dataBuffer[self.offset :] + b"".join(self._tempDataBuffer)
        self._tempDataBuffer = []
        taken = data[: self.room]
        self.room -= len(taken)
        self.sent.append(taken)
        self.dataBuffer, self.offset = data, len(taken)


class FakeReactor:
    def __init__(self) -> None:
        self._asyncioEventloop = FakeLoop()
        self._writers: dict[Any, int] = {}
        self.calls: list[tuple[Any, bool]] = []

    def _readOrWrite(self, selectable: Any, read: bool) -> None:
        self.calls.append((selectable, read))
        selectable.doWrite()


def test_writes_of_one_turn_leave_in_one_send_without_registering() -> None:
    reactor, transport = FakeReactor(), FakeTransport()
    WriteCoalescer(transport, reactor)
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"body")
    assert transport.sent == [] and len(reactor._asyncioEventloop.ready) == 1
    reactor._asyncioEventloop.run_ready()
    assert transport.sent == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    assert reactor.calls == [(transport, False)] and transport.registered == 0


def test_a_full_socket_falls_back_to_waiting_for_writability() -> None:
    reactor, transport = FakeReactor(), FakeTransport(room=3)
    WriteCoalescer(transport, reactor)
    transport.write(b"abcdef")
    reactor._asyncioEventloop.run_ready()
    assert transport.sent == [b"abc"] and transport.registered == 1
    reactor._writers[transport] = 7  # now registered: later writes use Twisted's path
    transport.write(b"gh")
    assert reactor._asyncioEventloop.ready == [] and transport.registered == 2


def test_a_connection_lost_before_the_flush_writes_nothing() -> None:
    reactor, transport = FakeReactor(), FakeTransport()
    WriteCoalescer(transport, reactor)
    transport.write(b"late")
    transport.connected = False
    reactor._asyncioEventloop.run_ready()
    assert transport.sent == [] and reactor.calls == []


def test_only_plain_tcp_transports_on_the_asyncio_reactor_are_changed() -> None:
    reactor = FakeReactor()
    assert install_write_coalescing(FakeTransport(), reactor) is None  # not a tcp.Server
    server = tcp.Server.__new__(tcp.Server)
    server._tempDataBuffer = []
    server.startWriting = lambda: None  # type: ignore[method-assign]
    assert isinstance(install_write_coalescing(server, reactor), WriteCoalescer)
    other = tcp.Server.__new__(tcp.Server)
    other._tempDataBuffer = []
    assert install_write_coalescing(other, object()) is None


@pytest.mark.parametrize("writes", [1, 5])
def test_one_flush_is_scheduled_however_many_writes(writes: int) -> None:
    reactor, transport = FakeReactor(), FakeTransport()
    WriteCoalescer(transport, reactor)
    for _ in range(writes):
        transport.write(b"x")
    assert len(reactor._asyncioEventloop.ready) == 1
