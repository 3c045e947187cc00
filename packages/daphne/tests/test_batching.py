"""Batched sends: one layer call per reactor turn, per-message outcomes, per-connection order.

A recording fake layer (fault injection: chosen messages fail with chosen
exceptions) and a ``Clock`` drive ``SendBatcher`` and the HTTP/WebSocket
protocols without sockets or sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Any

import pytest
from daphne.batching import SendBatcher
from daphne_harness import UPGRADE, Harness, make_harness, parse_server_frames, ws_frame
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.python.failure import Failure

Rule = Callable[[str, dict[str, Any]], BaseException | None]


class ChannelFull(Exception):
    """The fake layer's ChannelFull."""


class MessageTooLarge(Exception):
    """The fake layer's MessageTooLarge."""


class PlainLayer:
    """A layer with only ``send``: records what it accepted, fails what ``rules`` say."""

    ChannelFull = ChannelFull
    MessageTooLarge = MessageTooLarge

    def __init__(self) -> None:
        self.accepted: list[tuple[str, dict[str, Any]]] = []
        self.attempts: list[tuple[str, dict[str, Any]]] = []
        self.send_calls = 0
        self.rules: list[Rule] = []
        self.counter = 0

    def new_channel(self, pattern: str) -> str:
        self.counter += 1
        return f"{pattern}{self.counter:012d}"

    def outcome(self, channel: str, message: dict[str, Any]) -> BaseException | None:
        self.attempts.append((channel, message))
        for rule in self.rules:
            error = rule(channel, message)
            if error is not None:
                return error
        self.accepted.append((channel, message))
        return None

    def send(self, channel: str, message: dict[str, Any]) -> None:
        self.send_calls += 1
        error = self.outcome(channel, message)
        if error is not None:
            raise error

    def on(self, channel: str) -> list[dict[str, Any]]:
        """Return the messages accepted on ``channel``, in order."""
        return [message for name, message in self.accepted if name == channel]

    def fail_once(self, matches: Callable[[str, dict[str, Any]], bool], error: Exception) -> None:
        """Fail the first message that ``matches`` with ``error``; later ones go through."""
        used: list[bool] = []

        def rule(channel: str, message: dict[str, Any]) -> BaseException | None:
            if not used and matches(channel, message):
                used.append(True)
                return error
            return None

        self.rules.append(rule)


class BatchLayer(PlainLayer):
    """A layer with ``send_many``: one call per batch, one outcome per message."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[tuple[str, dict[str, Any]]]] = []

    def send_many(self, pairs: list[tuple[str, dict[str, Any]]]) -> list[BaseException | None]:
        self.batches.append(list(pairs))
        return [self.outcome(channel, message) for channel, message in pairs]


GET = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"


def is_text(text: str) -> Callable[[str, dict[str, Any]], bool]:
    return lambda channel, message: message.get("text") == text


def accepted_socket(harness: Harness) -> tuple[Any, Any, str]:
    protocol, transport = harness.connect()
    protocol.dataReceived(UPGRADE + b"\r\n")
    harness.flush()
    layer: PlainLayer = harness.context.channel_layer
    reply = layer.on("websocket.connect")[-1]["reply_channel"]
    harness.reply(reply, {"accept": True})
    transport.clear()
    return protocol, transport, reply


# The batcher on its own -------------------------------------------------------


def test_sends_of_one_turn_go_out_in_one_send_many_call_on_the_next_turn() -> None:
    layer, clock = BatchLayer(), Clock()
    batcher = SendBatcher(layer, clock)
    for index in range(5):
        batcher.send("http.request", {"n": index})
    assert layer.batches == [] and len(clock.getDelayedCalls()) == 1
    clock.advance(0)
    assert layer.batches == [[("http.request", {"n": index}) for index in range(5)]]
    assert layer.send_calls == 0
    assert clock.getDelayedCalls() == []


def test_each_message_gets_its_own_outcome_callback() -> None:
    layer, clock = BatchLayer(), Clock()
    full, big = ChannelFull("full"), MessageTooLarge("big")
    layer.rules.append(lambda c, m: full if m["n"] == 1 else big if m["n"] == 3 else None)
    batcher = SendBatcher(layer, clock)
    outcomes: list[tuple[int, object]] = []
    for index in range(4):
        batcher.send(
            "c",
            {"n": index},
            on_sent=lambda i=index: outcomes.append((i, "sent")),
            on_error=lambda exc, i=index: outcomes.append((i, exc)),
        )
    clock.advance(0)
    assert outcomes == [(0, "sent"), (1, full), (2, "sent"), (3, big)]
    assert [m["n"] for m in layer.on("c")] == [0, 2]


def test_layer_without_send_many_gets_one_send_per_message_and_failures_stay_per_message() -> None:
    layer, clock = PlainLayer(), Clock()
    error = ConnectionError("Connection refused")
    layer.rules.append(lambda c, m: error if m["n"] == 0 else None)
    batcher = SendBatcher(layer, clock)
    errors: list[BaseException] = []
    sent: list[int] = []
    for index in range(3):
        batcher.send("c", {"n": index}, lambda i=index: sent.append(i), errors.append)
    clock.advance(0)
    assert layer.send_calls == 3
    assert errors == [error] and sent == [1, 2]
    assert [m["n"] for m in layer.on("c")] == [1, 2]


def test_cancelled_send_is_never_handed_to_the_layer() -> None:
    layer, clock = BatchLayer(), Clock()
    batcher = SendBatcher(layer, clock)
    calls: list[str] = []
    keep = batcher.send("c", {"n": 1}, lambda: calls.append("kept"))
    drop = batcher.send("c", {"n": 2}, lambda: calls.append("dropped"))
    assert drop.cancel() is True
    clock.advance(0)
    assert layer.batches == [[("c", {"n": 1})]] and calls == ["kept"]
    assert keep.cancel() is False and not keep.queued()
    only_cancelled = batcher.send("c", {"n": 3})
    only_cancelled.cancel()
    clock.advance(0)
    assert len(layer.batches) == 1


def test_sends_queued_by_callbacks_go_into_the_next_batch() -> None:
    layer, clock = BatchLayer(), Clock()
    batcher = SendBatcher(layer, clock)
    batcher.send("c", {"n": 1}, lambda: batcher.send("c", {"n": 2}))
    batcher.flush()
    assert layer.batches == [[("c", {"n": 1})]]
    assert batcher.pending() == 1
    clock.advance(0)
    assert layer.batches[1] == [("c", {"n": 2})]


def test_send_many_raising_or_answering_badly_fails_every_message_of_the_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Raising(BatchLayer):
        def send_many(self, pairs: list[Any]) -> list[BaseException | None]:
            raise TypeError("bad batch")

    class Short(BatchLayer):
        def send_many(self, pairs: list[Any]) -> list[BaseException | None]:
            return [None]

    for layer, kind in ((Raising(), TypeError), (Short(), RuntimeError)):
        clock = Clock()
        batcher = SendBatcher(layer, clock)
        errors: list[BaseException] = []
        for index in range(3):
            batcher.send("c", {"n": index}, on_error=errors.append)
        with caplog.at_level(logging.ERROR, logger="daphne.batching"):
            clock.advance(0)
        assert len(errors) == 3 and all(isinstance(e, kind) for e in errors)


def test_a_failing_callback_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    layer, clock = BatchLayer(), Clock()
    batcher = SendBatcher(layer, clock)
    ran: list[int] = []

    def broken() -> None:
        raise ValueError("oops")

    batcher.send("c", {"n": 1}, broken)
    batcher.send("c", {"n": 2}, lambda: ran.append(2))
    with caplog.at_level(logging.ERROR, logger="daphne.batching"):
        clock.advance(0)
    assert ran == [2]
    assert "Error handling the outcome of a send on c" in caplog.text


def test_drain_sends_follow_ups_without_the_clock() -> None:
    layer, clock = BatchLayer(), Clock()
    batcher = SendBatcher(layer, clock)
    batcher.send("c", {"n": 1}, lambda: batcher.send("c", {"n": 2}))
    batcher.drain()
    assert [m["n"] for m in layer.on("c")] == [1, 2]
    assert batcher.pending() == 0


# HTTP ---------------------------------------------------------------------------


def test_requests_from_many_connections_share_one_layer_call() -> None:
    layer = BatchLayer()
    harness = make_harness(layer)
    for _ in range(10):
        protocol, _transport = harness.connect()
        protocol.dataReceived(GET)
    assert layer.batches == []
    harness.flush()
    assert len(layer.batches) == 1 and len(layer.batches[0]) == 10
    assert all(channel == "http.request" for channel, _ in layer.batches[0])


@pytest.mark.parametrize(
    ("error", "status", "text"),
    [
        (ChannelFull("full"), b"503", b"Server is busy"),
        (MessageTooLarge("big"), b"413", b"Request too large"),
        (ConnectionError("refused"), b"503", b"Channel layer unavailable"),
    ],
)
@pytest.mark.parametrize("layer_class", [BatchLayer, PlainLayer])
def test_failed_http_request_is_answered_as_before(
    layer_class: type[PlainLayer], error: Exception, status: bytes, text: bytes
) -> None:
    layer = layer_class()
    harness = make_harness(layer)
    ok, ok_transport = harness.connect()
    bad, bad_transport = harness.connect()
    layer.fail_once(lambda c, m: m.get("path") == "/bad", error)
    ok.dataReceived(GET)
    bad.dataReceived(b"GET /bad HTTP/1.1\r\nHost: h\r\n\r\n")
    harness.flush()
    assert bad_transport.value().startswith(b"HTTP/1.1 " + status)
    assert text in bad_transport.value()
    assert ok_transport.value() == b""
    [request] = layer.on("http.request")
    assert request["path"] == "/x"
    assert list(harness.context.handlers) == [request["reply_channel"]]
    harness.clock.advance(1000)  # the refused request's response timer is gone too
    assert harness.actions[0][2]["path"] == "/bad"


def test_body_chunks_follow_their_request_and_a_full_chunk_is_retried_in_order() -> None:
    layer = BatchLayer()
    harness = make_harness(layer, request_body_chunk_size=10)
    body = bytes(range(40))
    protocol, _transport = harness.connect()
    protocol.dataReceived(b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 40\r\n\r\n" + body)
    # The second body chunk finds its channel full twice.
    layer.fail_once(lambda c, m: m.get("content") == body[20:30], ChannelFull("full"))
    layer.fail_once(lambda c, m: m.get("content") == body[20:30], ChannelFull("full"))
    harness.flush()
    harness.clock.advance(0.005)
    harness.clock.advance(0.01)
    [request] = layer.on("http.request")
    assert request["body"] == body[:10]
    chunks = layer.on(request["body_channel"])
    assert b"".join(c["content"] for c in chunks) == body[10:]
    assert [c["more_content"] for c in chunks] == [True, True, False]
    # http.request went out alone, then one chunk per batch (never two of one request).
    channels = [[name for name, _ in batch] for batch in layer.batches]
    assert channels[0] == ["http.request"]
    assert all(len(batch) == 1 for batch in channels)
    attempts = [m["content"] for name, m in layer.attempts if name == request["body_channel"]]
    assert attempts == [body[10:20], body[20:30], body[20:30], body[20:30], body[30:]]


def test_client_leaving_before_the_flush_sends_nothing_at_all() -> None:
    layer = BatchLayer()
    harness = make_harness(layer)
    protocol, _transport = harness.connect()
    protocol.dataReceived(GET)
    protocol.connectionLost(Failure(ConnectionLost("gone")))
    harness.flush()
    assert layer.attempts == []
    assert harness.context.handlers == {}


def test_client_leaving_during_a_body_upload_sends_closed_and_disconnect_after_the_request() -> (
    None
):
    layer = BatchLayer()
    harness = make_harness(layer, request_body_chunk_size=10)
    protocol, _transport = harness.connect()
    protocol.dataReceived(b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 30\r\n\r\n" + b"a" * 30)
    harness.context.sends.flush()  # http.request is out; the first chunk is queued
    protocol.connectionLost(Failure(ConnectionLost("gone")))
    harness.flush()
    [request] = layer.on("http.request")
    body_channel = request["body_channel"]
    # The queued chunk was withdrawn; the app learns the upload ended and the client left.
    assert [name for name, _ in layer.accepted] == ["http.request", body_channel, "http.disconnect"]
    assert layer.on(body_channel) == [{"closed": True}]


# WebSocket ----------------------------------------------------------------------


def test_connect_frames_and_disconnect_keep_their_order_when_all_arrive_in_one_read() -> None:
    layer = BatchLayer()
    harness = make_harness(layer)
    protocol, _transport, reply = accepted_socket(harness)
    close = ws_frame(struct.pack("!H", 1000), opcode=8)
    protocol.dataReceived(ws_frame(b"a") + ws_frame(b"b") + ws_frame(b"c") + close)
    protocol.connectionLost(Failure(ConnectionLost("closed")))
    harness.flush()
    names = [name for name, _ in layer.accepted]
    assert names == ["websocket.connect"] + ["websocket.receive"] * 3 + ["websocket.disconnect"]
    assert [m["text"] for m in layer.on("websocket.receive")] == ["a", "b", "c"]
    assert [m["order"] for m in layer.on("websocket.receive")] == [1, 2, 3]
    [disconnect] = layer.on("websocket.disconnect")
    assert disconnect == {"reply_channel": reply, "code": 1000, "path": "/chat/room", "order": 4}


@pytest.mark.parametrize("error", [ChannelFull("full"), ConnectionError("refused")])
@pytest.mark.parametrize("layer_class", [BatchLayer, PlainLayer])
def test_a_refused_frame_is_retried_before_any_later_frame(
    layer_class: type[PlainLayer], error: Exception
) -> None:
    layer = layer_class()
    harness = make_harness(layer, websocket_backpressure_timeout=60)
    protocol, transport, _reply = accepted_socket(harness)
    layer.fail_once(is_text("2"), error)
    protocol.dataReceived(ws_frame(b"1") + ws_frame(b"2") + ws_frame(b"3"))
    harness.flush()
    assert [m["text"] for m in layer.on("websocket.receive")] == ["1"]
    assert transport.producerState == "paused"
    protocol.dataReceived(ws_frame(b"4"))  # already buffered when reading paused
    harness.clock.advance(0.005)
    assert [m["text"] for m in layer.on("websocket.receive")] == ["1", "2", "3", "4"]
    assert [m["order"] for m in layer.on("websocket.receive")] == [1, 2, 3, 4]
    assert transport.producerState == "producing"
    attempted = [m["text"] for name, m in layer.attempts if name == "websocket.receive"]
    assert attempted == ["1", "2", "2", "3", "4"]


def test_frame_too_large_for_the_layer_closes_1009_and_later_frames_are_dropped() -> None:
    layer = BatchLayer()
    harness = make_harness(layer)
    protocol, transport, _reply = accepted_socket(harness)
    layer.fail_once(is_text("2"), MessageTooLarge("big"))
    protocol.dataReceived(ws_frame(b"1") + ws_frame(b"2") + ws_frame(b"3"))
    harness.flush()
    assert parse_server_frames(transport.value())[-1] == (8, struct.pack("!H", 1009))
    protocol.connectionLost(Failure(ConnectionLost("closed")))
    harness.flush()
    assert [m["text"] for m in layer.on("websocket.receive")] == ["1"]
    assert layer.on("websocket.disconnect")[0]["order"] == 2


def test_disconnect_waits_for_the_frame_in_flight_and_drops_frames_the_layer_refuses() -> None:
    layer = BatchLayer()
    harness = make_harness(layer, websocket_backpressure_timeout=60)
    protocol, _transport, _reply = accepted_socket(harness)
    # Frame 2 is refused; frame 1 is in the batch being sent when the peer vanishes.
    layer.fail_once(is_text("2"), ChannelFull("full"))
    protocol.dataReceived(ws_frame(b"1") + ws_frame(b"2") + ws_frame(b"3"))
    protocol.connectionLost(Failure(ConnectionLost("reset")))
    harness.flush()
    assert [m["text"] for m in layer.on("websocket.receive")] == ["1"]
    [disconnect] = layer.on("websocket.disconnect")
    assert disconnect["order"] == 2 and disconnect["code"] == 1006
    assert [name for name, _ in layer.accepted][-1] == "websocket.disconnect"


def test_frames_blocked_at_close_are_dropped_and_disconnect_follows_the_last_delivered() -> None:
    layer = BatchLayer()
    harness = make_harness(layer, websocket_backpressure_timeout=60)
    protocol, _transport, _reply = accepted_socket(harness)
    layer.rules.append(lambda c, m: ChannelFull("full") if m.get("text") == "2" else None)
    protocol.dataReceived(ws_frame(b"1") + ws_frame(b"2") + ws_frame(b"3"))
    harness.flush()  # frame 2 is backing off
    protocol.connectionLost(Failure(ConnectionLost("reset")))
    harness.flush()
    harness.clock.advance(10)
    assert [m["text"] for m in layer.on("websocket.receive")] == ["1"]
    assert [m["order"] for m in layer.on("websocket.disconnect")] == [2]


def test_refused_websocket_connect_gives_503_and_never_a_disconnect() -> None:
    for error in (ChannelFull("full"), ConnectionError("refused")):
        layer = PlainLayer()
        layer.fail_once(lambda c, m: c == "websocket.connect", error)
        harness = make_harness(layer)
        protocol, transport = harness.connect()
        protocol.dataReceived(UPGRADE + b"\r\n")
        harness.flush()
        assert transport.value().startswith(b"HTTP/1.1 503")
        protocol.connectionLost(Failure(ConnectionLost("closed")))
        harness.flush()
        assert layer.accepted == []
        assert harness.context.handlers == {}


def test_socket_gone_before_its_connect_left_the_batch_sends_nothing() -> None:
    layer = BatchLayer()
    harness = make_harness(layer)
    protocol, _transport = harness.connect()
    protocol.dataReceived(UPGRADE + b"\r\n")
    protocol.connectionLost(Failure(ConnectionLost("gone")))
    harness.flush()
    assert layer.attempts == []
    assert harness.context.handlers == {} and harness.actions == []


def test_long_outbox_pauses_reading_until_it_drains() -> None:
    layer = BatchLayer()
    harness = make_harness(layer)
    protocol, transport, _reply = accepted_socket(harness)
    protocol.dataReceived(b"".join(ws_frame(b"%d" % i) for i in range(40)))
    assert transport.producerState == "paused"
    harness.flush()
    assert transport.producerState == "producing"
    assert [m["order"] for m in layer.on("websocket.receive")] == list(range(1, 41))


# Shutdown -----------------------------------------------------------------------


def test_graceful_shutdown_flushes_queued_sends_before_it_finishes() -> None:
    layer = BatchLayer()
    harness = make_harness(layer)
    server = harness.server()
    harness.context.send("websocket.disconnect", {"reply_channel": "a", "code": 1001})
    finished = server._drain()  # nothing busy: the drain ends within this call
    assert finished.called
    assert layer.on("websocket.disconnect") == [{"reply_channel": "a", "code": 1001}]
    # Sockets the reactor closes afterwards queue more; the after-shutdown trigger sends them.
    harness.context.send("http.disconnect", {"reply_channel": "b", "path": "/"})
    server._flush_sends()
    assert layer.on("http.disconnect") == [{"reply_channel": "b", "path": "/"}]


class _AsyncLayer:
    """A layer whose send_many_async answers when the test releases it."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release: asyncio.Event | None = None
        self.blocking_calls = 0

    class ChannelFull(Exception):
        pass

    def send_many(self, pairs: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        self.blocking_calls += 1
        self.batches.append([channel for channel, _message in pairs])
        return [None] * len(pairs)

    async def send_many_async(self, pairs: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        self.batches.append([channel for channel, _message in pairs])
        assert self.release is not None
        await self.release.wait()
        return [None if channel != "full" else self.ChannelFull("full") for channel, _m in pairs]


def test_with_an_event_loop_batches_are_awaited_not_blocked_on() -> None:
    layer = _AsyncLayer()
    outcomes: list[Any] = []

    async def main() -> None:
        layer.release = asyncio.Event()
        loop = asyncio.get_running_loop()
        clock = Clock()
        batcher = SendBatcher(layer, clock, loop)
        batcher.send("a", {}, lambda: outcomes.append("a sent"), outcomes.append)
        batcher.send("full", {}, lambda: outcomes.append("full sent"), outcomes.append)
        await asyncio.sleep(0)  # the flush (call_soon): starts the batch and returns at once
        await asyncio.sleep(0)
        assert layer.batches == [["a", "full"]] and outcomes == [] and batcher.in_flight == 1
        batcher.send("b", {}, lambda: outcomes.append("b sent"), outcomes.append)
        await asyncio.sleep(0)  # a second batch while the first is still in flight
        await asyncio.sleep(0)
        assert layer.batches == [["a", "full"], ["b"]] and batcher.in_flight == 2
        layer.release.set()
        for _ in range(5):
            await asyncio.sleep(0)
        assert batcher.in_flight == 0
        assert outcomes[0] == "a sent" and isinstance(outcomes[1], layer.ChannelFull)
        assert outcomes[2] == "b sent"
        batcher.send("c", {}, lambda: outcomes.append("c sent"), outcomes.append)
        batcher.drain()  # at shutdown: sent synchronously, callbacks run before it returns
        assert layer.blocking_calls == 1 and outcomes[-1] == "c sent"

    asyncio.run(main())
