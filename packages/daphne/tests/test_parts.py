"""Options, endpoints, the access log, the reply reader's three modes, exported names."""

from __future__ import annotations

import asyncio
import datetime
import io
import socket
from typing import Any

import daphne
import pytest
from asgiref.inmemory import ChannelLayer
from daphne import (
    access,
    batching,
    cli,
    context,
    deadlines,
    endpoints,
    http_protocol,
    options,
    reply_reader,
    request_info,
    server,
    ws_protocol,
)
from daphne.access import AccessLogGenerator, format_access_line
from daphne.endpoints import build_endpoint_description_strings, server_endpoint
from daphne.options import ServerOptions, parse_networks
from daphne.reply_reader import ReplyReader, choose_mode
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock


def test_exported_names_are_exactly_the_intended_ones() -> None:
    assert daphne.__all__ == ["__version__"]
    assert set(server.__all__) == {"HTTPFactory", "Server", "install_reactor"}
    assert set(endpoints.__all__) == {
        "build_endpoint_description_strings",
        "quote_endpoint_value",
        "server_endpoint",
    }
    assert set(cli.__all__) == {"CommandLineInterface", "load_channel_layer", "main"}
    assert set(access.__all__) == {"ACCESS_LOGGER_NAME", "AccessLogGenerator", "format_access_line"}
    assert set(options.__all__) == {"ServerOptions", "parse_networks"}
    assert set(reply_reader.__all__) == {"ReplyReader", "choose_mode"}
    assert set(context.__all__) == {
        "ActionLogger",
        "Clock",
        "DelayedCall",
        "ReplyHandler",
        "ServerContext",
        "new_reply_prefix",
    }
    assert set(http_protocol.__all__) == {"AsgiHTTPChannel", "AsgiRequest", "RequestFactory"}
    assert set(request_info.__all__) == {
        "BadRequestError",
        "RequestInfo",
        "address_pair",
        "parse_request",
    }
    assert set(ws_protocol.__all__) == {"WebSocketFactory", "WebSocketProtocol"}
    assert set(deadlines.__all__) == {"Clock", "Deadline", "DeadlineQueue", "DelayedCall"}
    assert set(batching.__all__) == {"OnError", "OnSent", "PendingSend", "SendBatcher"}
    for module in (
        access,
        batching,
        cli,
        context,
        deadlines,
        endpoints,
        http_protocol,
        options,
        reply_reader,
        request_info,
        server,
        ws_protocol,
    ):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"host": "127.0.0.1", "port": 8000}, ["tcp:port=8000:interface=127.0.0.1"]),
        ({"host": "::1", "port": 8000}, ["tcp:port=8000:interface=\\:\\:1"]),
        ({"host": "[::]", "port": 0}, ["tcp:port=0:interface=\\:\\:"]),
        ({"unix_socket": "/tmp/d.sock"}, ["unix:/tmp/d.sock"]),
        ({"file_descriptor": 5}, ["fd:fileno=5"]),
        (
            {"host": "0.0.0.0", "port": 80, "unix_socket": "/s"},
            ["tcp:port=80:interface=0.0.0.0", "unix:/s"],
        ),
        ({}, []),
    ],
)
def test_endpoint_strings_from_cli_options(kwargs: dict[str, Any], expected: list[str]) -> None:
    assert build_endpoint_description_strings(**kwargs) == expected


def test_endpoint_strings_reject_half_given_host_port() -> None:
    with pytest.raises(ValueError, match="give both"):
        build_endpoint_description_strings(host="127.0.0.1")
    with pytest.raises(ValueError, match="65535"):
        build_endpoint_description_strings(host="127.0.0.1", port=70000)


def test_ipv6_endpoint_string_is_understood_by_twisted() -> None:
    [description] = build_endpoint_description_strings(host="::1", port=0)
    endpoint = server_endpoint(None, description)
    assert endpoint._interface == "::1"  # type: ignore[attr-defined]


def test_fd_endpoint_adopts_an_open_socket_and_rejects_a_closed_one() -> None:
    with socket.socket() as sock:
        endpoint = server_endpoint(None, f"fd:fileno={sock.fileno()}:domain=INET")
        assert endpoint.fileno == sock.fileno()  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="not open"):
        server_endpoint(None, "fd:fileno=987654")
    with pytest.raises(ValueError, match="bad part"):
        server_endpoint(None, "fd:fileno=3:domain=APPLE")


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("http_timeout", 0, ValueError),
        ("http_timeout", "10", TypeError),
        ("max_request_body_size", -1, ValueError),
        ("http_idle_timeout", 0, ValueError),
        ("root_path", "app", ValueError),
        ("root_path", "/app/", ValueError),
        ("ws_protocols", ("a b",), ValueError),
    ],
)
def test_bad_options_are_refused_with_the_value_named(field: str, value: Any, error: type) -> None:
    with pytest.raises(error, match=field if field != "ws_protocols" else "a b"):
        ServerOptions(**{field: value})


def test_origin_allowlist_rules() -> None:
    assert ServerOptions().allows_origin("https://anything.test")
    limited = ServerOptions(ws_allowed_origins=("https://*.example.com", "http://localhost:8000"))
    assert limited.allows_origin("https://chat.example.com")
    assert limited.allows_origin("HTTP://LOCALHOST:8000")
    assert limited.allows_origin(None)
    assert not limited.allows_origin("https://example.com.evil.test")
    assert not limited.allows_origin("null")


def test_proxy_trust_rules() -> None:
    assert not ServerOptions().trusts_proxy("10.0.0.1")
    assert ServerOptions(proxy_headers=True).trusts_proxy("10.0.0.1")
    trusted = ServerOptions(proxy_headers=True, proxy_trusted=parse_networks(["10.0.0.0/8", "::1"]))
    assert trusted.trusts_proxy("10.9.9.9") and trusted.trusts_proxy("::1")
    assert not trusted.trusts_proxy("192.168.1.1") and not trusted.trusts_proxy(None)
    with pytest.raises(ValueError, match="'nope'"):
        parse_networks(["nope"])


def test_access_lines_use_the_ncsa_like_format() -> None:
    when = datetime.datetime(2026, 11, 21, 10, 0, 0)
    http_line = format_access_line(
        "http",
        "complete",
        {"path": "/p", "status": 200, "method": "GET", "client": "1.2.3.4:5", "size": 12},
        when,
    )
    assert http_line == '1.2.3.4:5 - - [21/Nov/2026:10:00:00] "GET /p" 200 12'
    for action, verb in [
        ("connecting", "WSCONNECTING"),
        ("connected", "WSCONNECT"),
        ("rejected", "WSREJECT"),
        ("disconnected", "WSDISCONNECT"),
    ]:
        line = format_access_line("websocket", action, {"path": "/ws", "client": "h:1"}, when)
        assert line == f'h:1 - - [21/Nov/2026:10:00:00] "{verb} /ws" - -'
    assert format_access_line("websocket", "other", {}, when) is None


def test_access_log_generator_writes_to_its_stream() -> None:
    stream = io.StringIO()
    generator = AccessLogGenerator(stream)
    try:
        generator(
            "http",
            "complete",
            {"path": "/x", "status": 404, "method": "POST", "client": "c:1", "size": 0},
        )
    finally:
        generator.close()
    assert '"POST /x" 404 0' in stream.getvalue()


class SyncOnlyLayer:
    """A layer without async or twisted receive (forces polling)."""

    extensions: list[str] = []

    def __init__(self) -> None:
        self.inner = ChannelLayer()
        self.calls = 0

    def send(self, channel: str, message: dict[str, Any]) -> None:
        self.inner.send(channel, message)

    def receive(self, channels: list[str], block: bool = False) -> Any:
        self.calls += 1
        return self.inner.receive(channels, block=False)


def test_mode_choice_prefers_async_then_twisted_then_poll() -> None:
    class AsyncReactor:
        _asyncioEventloop = object()

    layer = ChannelLayer()
    assert choose_mode(layer, AsyncReactor()) == "async"
    assert choose_mode(layer, Clock()) == "poll"
    assert choose_mode(layer, AsyncReactor(), force_sync=True) == "poll"

    class TwistedLayer(SyncOnlyLayer):
        extensions = ["twisted"]

        def receive_twisted(self, channels: list[str]) -> Deferred[Any]:
            return succeed(self.receive(channels))

    assert choose_mode(TwistedLayer(), Clock()) == "twisted"


def test_polling_backs_off_when_idle_and_drains_bursts_without_delay() -> None:
    layer = SyncOnlyLayer()
    clock = Clock()
    got: list[tuple[str, dict[str, Any]]] = []
    reader = ReplyReader(
        layer,
        ["daphne.response.x!"],
        lambda c, m: got.append((c, m)),
        clock,
        min_delay=0.001,
        max_delay=0.1,
    )
    assert reader.mode == "poll"
    reader.start()
    clock.advance(0)
    for _ in range(20):
        clock.advance(0.2)
    idle_calls = layer.calls
    # Idle: exponential back-off caps at 0.1 s, so ~20 polls in 4 s rather than thousands.
    assert idle_calls < 60
    for index in range(5):
        layer.send("daphne.response.x!abc", {"n": index})
    clock.advance(0.1)
    clock.advance(0)
    assert [m["n"] for _, m in got] == [0, 1, 2, 3, 4]
    assert got[0][0] == "daphne.response.x!abc"
    reader.stop()
    calls = layer.calls
    clock.advance(10)
    assert layer.calls == calls


def test_twisted_mode_chains_deferreds_and_survives_errors() -> None:
    clock = Clock()
    pending: list[Deferred[Any]] = []

    class TwistedLayer:
        extensions = ["twisted"]

        def receive_twisted(self, channels: list[str]) -> Deferred[Any]:
            deferred: Deferred[Any] = Deferred()
            pending.append(deferred)
            return deferred

    got: list[Any] = []
    reader = ReplyReader(TwistedLayer(), ["p!"], lambda c, m: got.append(m), clock)
    reader.start()
    clock.advance(0)
    pending[-1].callback(("p!a", {"v": 1}))
    clock.advance(0)
    pending[-1].callback((None, None))
    clock.advance(0)
    pending[-1].errback(RuntimeError("layer down"))
    clock.advance(1)
    pending[-1].callback(("p!b", {"v": 2}))
    assert got == [{"v": 1}, {"v": 2}]
    reader.stop()


def test_async_mode_awaits_receive_async_and_loops_on_timeouts() -> None:
    layer = ChannelLayer(receive_timeout=0.05)
    got: list[Any] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()

        class Reactor:
            _asyncioEventloop = loop

        reader = ReplyReader(layer, ["daphne.response.y!"], lambda c, m: got.append(m), Reactor())
        assert reader.mode == "async"
        reader.start()
        await asyncio.sleep(0.2)  # several empty receive_async timeouts
        layer.send("daphne.response.y!c", {"ok": True})
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.01)
        reader.stop()
        await asyncio.sleep(0)

    asyncio.run(scenario())
    assert got == [{"ok": True}]


def test_dispatch_drops_unknown_channels_and_contains_handler_errors() -> None:
    ctx = context.ServerContext(ChannelLayer(), ServerOptions(), Clock())

    class Broken:
        def handle_reply(self, message: dict[str, Any]) -> None:
            raise RuntimeError("boom")

    channel = ctx.register(Broken())
    assert channel.startswith(ctx.reply_prefix) and ctx.reply_prefix.startswith("daphne.response.")
    ctx.dispatch(channel, {})  # logged, not raised
    ctx.dispatch(ctx.reply_prefix + "unknown", {})
    ctx.forget(channel)
    assert ctx.handlers == {}


def test_server_refuses_bad_arguments() -> None:
    layer = ChannelLayer()
    with pytest.raises(ValueError, match="endpoints is empty"):
        server.Server(layer, [])
    with pytest.raises(TypeError, match="list of strings"):
        server.Server(layer, "tcp:port=0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="-1 for no limit"):
        server.Server(layer, ["tcp:port=0"], websocket_timeout=0)
    assert (
        server.Server(layer, ["tcp:port=0"], websocket_timeout=-1).options.websocket_timeout is None
    )
    assert server.Server(layer, ["tcp:port=0"]).options.websocket_timeout == layer.group_expiry


def test_deadline_queue_fires_in_order_skips_cancelled_and_sheds_dead_entries() -> None:
    from daphne.deadlines import DeadlineQueue

    clock = Clock()
    queue = DeadlineQueue(clock, 10)
    fired: list[str] = []
    first = queue.add(lambda: fired.append("a"))
    clock.advance(1)
    second = queue.add(lambda: fired.append("b"))
    clock.advance(1)
    queue.add(lambda: fired.append("c"))
    second.cancel()
    assert second.callback is None and not second.active()
    clock.advance(8)
    assert fired == ["a"] and not first.active()
    clock.advance(1.5)
    assert fired == ["a"]
    clock.advance(0.5)
    assert fired == ["a", "c"]
    assert queue.timer is None and not queue.entries
    for _ in range(100):
        queue.add(lambda: fired.append("x")).cancel()
    assert len(queue.entries) == 1
    clock.advance(20)
    assert fired == ["a", "c"]
