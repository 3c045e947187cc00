"""The hiredis fast path: error replies, and a forked child never shares its parent's socket."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable

import pytest
from asgi_redis import RedisChannelLayer
from asgi_redis._async_fast import AsyncFastConnection, FastPathUnsupported
from asgi_redis._fastpath import HAVE_HIREDIS
from redis.exceptions import ResponseError

MakeLayer = Callable[..., RedisChannelLayer]

pytestmark = pytest.mark.skipif(not HAVE_HIREDIS, reason="hiredis is not installed")


def test_an_error_reply_raises_and_the_connection_stays_usable(make_layer: MakeLayer) -> None:
    layer = make_layer()
    assert layer._fast is not None
    with pytest.raises(ResponseError, match="unknown command"):
        layer._fast.call(0, ("NOSUCHCOMMAND",))
    assert layer._fast.call(0, ("PING",)) == b"PONG"


def test_a_forked_child_uses_its_own_connection(make_layer: MakeLayer) -> None:
    layer = make_layer()
    layer.send("fork.test", {"n": 1})
    assert layer._fast is not None
    parent_connection = layer._fast._connection(0)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            fresh = layer._fast._connection(0) is not parent_connection
            layer.send("fork.test", {"n": 2})
            code = 0 if fresh else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert layer.receive(["fork.test"]) == ("fork.test", {"n": 1})
    assert layer.receive(["fork.test"]) == ("fork.test", {"n": 2})
    assert layer._fast._connection(0) is parent_connection


def test_a_finished_thread_leaves_no_socket_open(make_layer: MakeLayer) -> None:
    layer = make_layer()
    thread = threading.Thread(target=layer.send, args=("thread.test", {"n": 1}))
    thread.start()
    thread.join(30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert layer.receive(["thread.test"]) == ("thread.test", {"n": 1})


class _SilentServer:
    """Fault injection: answers redis-py's connection handshake, then never replies again."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return
            self.clients.append(client)
            threading.Thread(target=self._answer, args=(client,), daemon=True).start()

    @staticmethod
    def _answer(client: socket.socket) -> None:
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                return
            if not data:
                return
            if b"EVALSHA" in data or b"SCRIPT" in data:
                continue  # the layer's calls: say nothing
            if b"HELLO" in data:
                client.sendall(b"%1\r\n$5\r\nproto\r\n:3\r\n")
            else:
                client.sendall(b"+OK\r\n" * data.count(b"*"))

    def close(self) -> None:
        self.listener.close()
        for client in self.clients:
            client.close()


def test_a_server_that_stops_answering_times_out_instead_of_hanging() -> None:
    server = _SilentServer()
    layer = RedisChannelLayer(
        hosts=[f"redis://127.0.0.1:{server.port}/0"],
        receive_timeout=0.2,
        connection_kwargs={"socket_timeout": 0.5},
    )
    try:
        started = time.monotonic()
        with pytest.raises(ConnectionError, match=str(server.port)):
            layer.send("silent", {"n": 1})
        assert time.monotonic() - started < 5
        sock = layer._fast._connection(0)._connection._sock if layer._fast else None
        assert sock is None  # the broken connection was dropped, the next call reconnects
    finally:
        layer.close()
        server.close()


def test_receive_async_on_a_server_that_stops_answering_times_out() -> None:
    server = _SilentServer()
    layer = RedisChannelLayer(
        hosts=[f"redis://127.0.0.1:{server.port}/0"],
        receive_timeout=0.2,
        connection_kwargs={"socket_timeout": 0.5},
    )

    async def main() -> None:
        with pytest.raises(ConnectionError, match=str(server.port)):
            await asyncio.wait_for(layer.receive_async(["silent!"]), 10)

    try:
        started = time.monotonic()
        asyncio.run(main())
        assert time.monotonic() - started < 5
    finally:
        layer.close()
        server.close()


def test_receive_async_falls_back_to_redis_asyncio_where_the_lean_path_cannot_go(
    make_layer: MakeLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: AsyncFastConnection) -> socket.socket:
        raise FastPathUnsupported("as if this were a TLS connection")

    monkeypatch.setattr(AsyncFastConnection, "_open_socket", refuse)
    layer = make_layer()
    layer.send("tls.like", {"n": 1})

    async def main() -> object:
        return await layer.receive_async(["tls.like"])

    assert asyncio.run(main()) == ("tls.like", {"n": 1})
    assert layer._async_fast is None
    layer.send("tls.like", {"n": 2})
    assert asyncio.run(main()) == ("tls.like", {"n": 2})


def test_the_lean_async_path_reconnects_after_its_connection_is_closed(
    make_layer: MakeLayer,
) -> None:
    layer = make_layer()

    async def main() -> list[object]:
        got = []
        for n in range(3):
            layer.send("again!x", {"n": n})
            got.append(await layer.receive_async(["again!"]))
            assert layer._async_fast is not None
            for connection in await layer._async_fast.get():
                connection.close()  # as if the server had dropped it
        return got

    assert asyncio.run(main()) == [("again!x", {"n": n}) for n in range(3)]


def test_failed_reconnects_of_the_async_path_never_exhaust_the_pool() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    layer = RedisChannelLayer(
        hosts=[f"redis://127.0.0.1:{port}/0"], connection_kwargs={"socket_connect_timeout": 1}
    )

    async def main() -> list[str]:
        errors = []
        for _ in range(150):  # more attempts than the pool's 100 connections
            result = (await layer.send_many_async([("c", {"n": 1})]))[0]
            errors.append(str(result))
            try:
                await layer.receive_async(["c"])
            except ConnectionError as exc:
                errors.append(str(exc))
        return errors

    errors = asyncio.run(main())
    assert len(errors) == 300
    assert not [error for error in errors if "Too many connections" in error]
    assert all("unavailable" in error for error in errors)
