"""The worker, driven one message at a time: routing, errors, retries, signals, shutdown."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from asgiref.inmemory import ChannelLayer
from channels import Channel, Group
from channels.asgi import ChannelLayerWrapper, channel_layers
from channels.exceptions import (
    ChannelSocketException,
    ConsumeLater,
    DenyConnection,
    WebsocketCloseException,
)
from channels.message import Message
from channels.routing import route
from channels.signals import consumer_finished, consumer_started, worker_ready
from channels.worker import Worker, WorkerGroup
from django.db import close_old_connections, connections

from .conftest import MakeLayer, drain, drive

REPLY = "daphne.response.abcdefghij!client1"


def ws_connect(path: str = "/") -> dict[str, Any]:
    return {"reply_channel": REPLY, "path": path, "order": 0, "headers": []}


def test_dispatch_runs_the_routed_consumer_with_kwargs(make_layer: MakeLayer) -> None:
    seen: list[Any] = []

    def consumer(message: Message, room: str) -> None:
        seen.append((message.channel.name, message["path"], room))

    layer = make_layer([route("websocket.connect", consumer, path=r"^/chat/(?P<room>\w+)/$")])
    layer.send("websocket.connect", ws_connect("/chat/lobby/"))
    assert drive(layer)
    assert seen == [("websocket.connect", "/chat/lobby/", "lobby")]
    assert not drive(layer)


def test_consumer_errors_are_logged_and_buffered_sends_still_flushed(
    make_layer: MakeLayer, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(message: Message) -> None:
        Channel("side.effect").send({"sent": "before the error"})
        raise RuntimeError("boom")

    layer = make_layer([route("task.run", broken)])
    layer.send("task.run", {"n": 1})
    layer.send("task.run", {"n": 2})
    with caplog.at_level(logging.ERROR, logger="channels.worker"):
        assert drive(layer)
        assert drive(layer)  # the worker carries on with the next message
    assert "Error processing message with consumer" in caplog.text
    assert "RuntimeError: boom" in caplog.text
    assert drain(layer, "side.effect") == [{"sent": "before the error"}] * 2


def test_consume_later_requeues_up_to_the_retry_limit(
    make_layer: MakeLayer, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def later(message: Message) -> None:
        calls.append(message.get("__retries__", 0))
        raise ConsumeLater()

    layer = make_layer([route("task.later", later)])
    layer.send("task.later", {"n": 1})
    with caplog.at_level(logging.WARNING, logger="channels.worker"):
        while drive(layer, message_retries=3):
            pass
    assert calls == [0, 1, 2, 3]
    assert "Dropping a message on task.later after 3 retries" in caplog.text


def test_deny_connection_on_connect_closes_the_socket(make_layer: MakeLayer) -> None:
    def deny(message: Message) -> None:
        raise DenyConnection()

    layer = make_layer([route("websocket.connect", deny)])
    layer.send("websocket.connect", ws_connect())
    assert drive(layer)
    assert layer.receive(["daphne.response.abcdefghij!"]) == (REPLY, {"close": True})


def test_deny_connection_outside_connect_is_logged_not_fatal(
    make_layer: MakeLayer, caplog: pytest.LogCaptureFixture
) -> None:
    def deny(message: Message) -> None:
        raise DenyConnection()

    layer = make_layer([route("websocket.receive", deny)])
    layer.send("websocket.receive", {"reply_channel": REPLY, "path": "/", "text": "x"})
    layer.send("websocket.receive", {"reply_channel": REPLY, "path": "/", "text": "y"})
    with caplog.at_level(logging.ERROR, logger="channels.worker"):
        assert drive(layer)
        assert drive(layer)
    assert "only applies to websocket.connect" in caplog.text
    assert layer.receive(["daphne.response.abcdefghij!"]) == (None, None)


def test_websocket_close_exception_works_with_daphne_reply_channels(
    make_layer: MakeLayer,
) -> None:
    def close(message: Message) -> None:
        raise WebsocketCloseException(4001)

    layer = make_layer([route("websocket.receive", close)])
    layer.send("websocket.receive", {"reply_channel": REPLY, "path": "/", "text": "x"})
    assert drive(layer)
    assert layer.receive(["daphne.response.abcdefghij!"]) == (REPLY, {"close": 4001})


@pytest.mark.parametrize("code", [999, 1001, 5000, "1000", True])
def test_websocket_close_exception_rejects_bad_codes(code: Any) -> None:
    with pytest.raises(ValueError, match="use None, 1000, or an application code"):
        WebsocketCloseException(code)


def test_a_failing_channel_socket_exception_does_not_kill_the_worker(
    make_layer: MakeLayer, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(ChannelSocketException):
        def run(self, message: Message) -> None:
            raise KeyError("broken handler")

    def consumer(message: Message) -> None:
        raise Broken()

    def http_close(message: Message) -> None:
        raise WebsocketCloseException()  # wrong protocol: its run() raises ValueError

    layer = make_layer([route("task.one", consumer), route("http.request", http_close)])
    layer.send("task.one", {})
    layer.send("http.request", {"reply_channel": "http.response.x!y", "path": "/"})
    with caplog.at_level(logging.ERROR, logger="channels.worker"):
        assert drive(layer, ["task.one"])
        assert drive(layer, ["http.request"])
    assert "Broken.run() failed" in caplog.text
    assert "only works for websocket.* channels" in caplog.text


def test_unrouted_messages_are_logged(
    make_layer: MakeLayer, caplog: pytest.LogCaptureFixture
) -> None:
    layer = make_layer([route("websocket.connect", lambda m: None, path=r"^/x/$")])
    worker = Worker(layer, signal_handlers=False)
    with caplog.at_level(logging.ERROR, logger="channels.worker"):
        worker.dispatch("nobody.listens", {})
    assert "Could not find match for message on nobody.listens" in caplog.text


def test_signals_surround_each_consumer(make_layer: MakeLayer) -> None:
    events: list[str] = []

    def started(sender: Any, message: Message, **kwargs: Any) -> None:
        events.append(f"started {message.channel.name}")

    def finished(sender: Any, **kwargs: Any) -> None:
        events.append("finished")

    def ready(sender: Any, **kwargs: Any) -> None:
        events.append("ready")

    layer = make_layer([route("task.x", lambda m: events.append("consumer"))])
    consumer_started.connect(started)
    consumer_finished.connect(finished)
    worker_ready.connect(ready)
    try:
        worker = Worker(layer, signal_handlers=False)
        worker.ready()
        worker.ready()  # sent once only
        worker.dispatch("task.x", {})
    finally:
        consumer_started.disconnect(started)
        consumer_finished.disconnect(finished)
        worker_ready.disconnect(ready)
    assert events == ["ready", "started task.x", "consumer", "finished"]


@pytest.mark.django_db
def test_db_connections_are_checked_before_and_after_each_consumer(
    make_layer: MakeLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    connection = connections["default"]
    connection.ensure_connection()
    original = type(connection).close_if_unusable_or_obsolete

    def spy(self: Any) -> None:
        checks.append("checked")
        original(self)

    monkeypatch.setattr(type(connection), "close_if_unusable_or_obsolete", spy)
    uid = "channels.close_old_connections"  # the conftest disconnects it for other tests
    consumer_started.connect(close_old_connections, dispatch_uid=uid)
    consumer_finished.connect(close_old_connections, dispatch_uid=uid)
    layer = make_layer([route("task.db", lambda m: checks.append("consumer"))])
    Worker(layer, signal_handlers=False).dispatch("task.db", {})
    assert checks == ["checked", "consumer", "checked"]


def test_channel_filters_use_globs(make_layer: MakeLayer) -> None:
    layer = make_layer([route("chat-messages", lambda m: None), route("thumbs.make", print)])
    worker = Worker(
        layer, only_channels=["websocket.*", "thumbs.*"], exclude_channels=["*.receive"]
    )
    assert worker.listen_channels() == ["thumbs.make", "websocket.connect", "websocket.disconnect"]
    with pytest.raises(ValueError, match="No channels left to listen on"):
        Worker(layer, only_channels=["nothing.*"]).listen_channels()


class FlakyLayer(ChannelLayer):
    """An in-memory layer whose receive fails a few times (fault injection)."""

    def __init__(self, failures: int) -> None:
        super().__init__(receive_timeout=0.05)
        self.failures = failures

    def receive(self, channels: Any, block: bool = False) -> Any:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("server went away")
        return super().receive(channels, block)


def test_layer_errors_are_retried_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    layer = ChannelLayerWrapper(FlakyLayer(failures=3), "default", [route("t.x", print)])
    layer.send("t.x", {"n": 1})
    worker = Worker(layer, signal_handlers=False, min_backoff=0.001, max_backoff=0.004)
    with caplog.at_level(logging.INFO, logger="channels.worker"):
        assert worker.receive(["t.x"]) == ("t.x", {"n": 1})
    assert caplog.text.count("failed to receive (ConnectionError: server went away)") == 3
    assert "retrying in 0.0s" in caplog.text
    assert "is receiving again" in caplog.text


def test_termination_finishes_the_message_in_hand_and_takes_no_more(
    make_layer: MakeLayer,
) -> None:
    done: list[int] = []
    worker: Worker

    def consumer(message: Message) -> None:
        worker.sigterm_handler(15, None)  # as if SIGTERM arrived mid-consumer
        done.append(message["n"])

    layer = make_layer([route("t.stop", consumer)])
    layer.send("t.stop", {"n": 1})
    layer.send("t.stop", {"n": 2})
    worker = Worker(layer, signal_handlers=False, only_channels=["t.stop"])
    runner = threading.Thread(target=worker.run)
    runner.start()
    runner.join(timeout=60)
    assert not runner.is_alive()
    assert done == [1]
    assert drain(layer, "t.stop") == [{"n": 2}]  # not taken, so not lost


def test_worker_group_runs_threads_and_restarts_dead_ones(
    make_layer: MakeLayer, caplog: pytest.LogCaptureFixture
) -> None:
    done: list[int] = []
    lock = threading.Lock()
    group: WorkerGroup

    def consumer(message: Message) -> None:
        with lock:
            done.append(message["n"])
            if len(done) == 20:
                group.termed = True

    layer = make_layer([route("t.group", consumer)])
    for n in range(20):
        layer.send("t.group", {"n": n})
    group = WorkerGroup(
        layer, n_threads=3, signal_handlers=False, only_channels=["t.group"], min_backoff=0.001
    )
    broken = group.workers[0]
    real_run = broken.run
    attempts: list[int] = []

    def dies_once() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("thread crashed")
        real_run()

    broken.run = dies_once  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="channels.worker"):
        group.run()
    assert sorted(done) == list(range(20))
    assert all(not t.is_alive() for t in group.threads)
    assert "A worker thread died; restarting it" in caplog.text
    assert len(attempts) >= 1


def test_worker_group_rejects_bad_thread_counts(make_layer: MakeLayer) -> None:
    with pytest.raises(ValueError, match="n_threads is 0"):
        WorkerGroup(make_layer(), n_threads=0)


def test_worker_needs_a_wrapper_with_a_router() -> None:
    with pytest.raises(TypeError, match="channel layer wrapper with a router"):
        Worker(ChannelLayer())


class _CountingLayer(ChannelLayer):
    """The in-memory layer, recording how the worker hands over its replies."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.combined: list[list[str]] = []
        self.plain_sends: list[str] = []
        self._combining = False

    def send(self, channel: str, message: dict[str, Any]) -> None:
        if not self._combining:
            self.plain_sends.append(channel)
        super().send(channel, message)

    def send_many_and_receive(self, messages: Any, channels: Any, block: bool = False) -> Any:
        self.combined.append([channel for channel, _message in messages])
        self._combining = True
        try:
            return super().send_many_and_receive(messages, channels, block)
        finally:
            self._combining = False


@pytest.fixture
def counting_layer() -> Any:
    """Install a _CountingLayer as the default alias; return a factory for its wrapper."""

    def make(routing: Any) -> ChannelLayerWrapper:
        wrapper = ChannelLayerWrapper(_CountingLayer(receive_timeout=0.05), "default", routing)
        channel_layers.set("default", wrapper)
        return wrapper

    yield make
    channel_layers.reset()


def _run_until(worker: Worker, condition: Any) -> None:
    runner = threading.Thread(target=worker.run)
    runner.start()
    deadline = time.monotonic() + 30
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.termed = True
    runner.join(timeout=30)
    assert not runner.is_alive()


def test_the_worker_loop_sends_a_consumers_replies_with_its_next_receive(
    counting_layer: Any,
) -> None:
    replies: list[Any] = []

    def echo(message: Message) -> None:
        message.reply_channel.send({"text": message["text"]})
        Channel("audit.log").send({"seen": message["text"]})

    layer = counting_layer([route("websocket.receive", echo)])
    inner = layer.channel_layer
    for text in ("a", "b"):
        inner.send("websocket.receive", {"reply_channel": REPLY, "text": text})
    inner.plain_sends.clear()
    worker = Worker(layer, signal_handlers=False, only_channels=["websocket.receive"])

    def both_echoed() -> bool:
        replies.extend(drain(layer, "daphne.response.abcdefghij!"))
        return len(replies) == 2

    _run_until(worker, both_echoed)
    assert replies == [{"text": "a"}, {"text": "b"}]
    assert inner.combined == [[REPLY, "audit.log"], [REPLY, "audit.log"]]
    assert inner.plain_sends == []  # nothing went out on its own round trip
    assert drain(layer, "audit.log") == [{"seen": "a"}, {"seen": "b"}]


def test_kept_replies_are_sent_when_the_worker_stops(counting_layer: Any) -> None:
    worker: Worker

    def reply_then_stop(message: Message) -> None:
        message.reply_channel.send({"bye": True})
        worker.termed = True

    layer = counting_layer([route("t.last", reply_then_stop)])
    inner = layer.channel_layer
    inner.send("t.last", {"reply_channel": REPLY})
    worker = Worker(layer, signal_handlers=False, only_channels=["t.last"])
    runner = threading.Thread(target=worker.run)
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive()
    assert drain(layer, "daphne.response.abcdefghij!") == [{"bye": True}]
    assert inner.combined == []


class _FailingReceivesLayer(ChannelLayer):
    """The in-memory layer (the base "send, then receive"); receives after the first fail."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.receives = 0
        self.failing = True

    def receive(self, channels: Any, block: bool = False) -> Any:
        self.receives += 1
        if self.receives > 1 and self.failing:
            raise ConnectionError("the layer went away")
        return super().receive(channels, block)


def test_without_a_combined_call_replies_go_out_with_the_consumer_not_the_next_receive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Keeping them for the base class's send_many_and_receive saves nothing, and a
    # receive that then fails was reported as "replies may be lost" though they went out.
    def answer(message: Message) -> None:
        message.reply_channel.send({"answered": True})

    inner = _FailingReceivesLayer(receive_timeout=0.05)
    layer = ChannelLayerWrapper(inner, "default", [route("t.ask", answer)])
    channel_layers.set("default", layer)
    try:
        inner.send("t.ask", {"reply_channel": REPLY})
        worker = Worker(layer, signal_handlers=False, only_channels=["t.ask"])
        worker.min_backoff = worker.max_backoff = 0.01
        with caplog.at_level(logging.WARNING, logger="channels.worker"):
            _run_until(worker, lambda: inner.receives >= 3)
        inner.failing = False
        assert drain(layer, "daphne.response.abcdefghij!") == [{"answered": True}]
    finally:
        channel_layers.reset()
    assert "failed to receive" in caplog.text
    assert "may be lost" not in caplog.text


def test_group_sends_are_never_kept_for_the_next_receive(counting_layer: Any) -> None:
    def broadcast(message: Message) -> None:
        message.reply_channel.send({"first": True})
        Group("room").send({"all": True})

    layer = counting_layer([route("t.cast", broadcast)])
    inner = layer.channel_layer
    inner.group_add("room", "member.a")
    inner.send("t.cast", {"reply_channel": REPLY})
    inner.plain_sends.clear()
    worker = Worker(layer, signal_handlers=False, only_channels=["t.cast"])
    _run_until(worker, lambda: bool(inner.plain_sends) and not worker.in_job)
    assert inner.combined == []
    assert drain(layer, "daphne.response.abcdefghij!") == [{"first": True}]
    assert drain(layer, "member.a") == [{"all": True}]
