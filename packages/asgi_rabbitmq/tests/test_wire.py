"""The streamlined write path: whole calls in one write, pika's buffer as the fallback."""

from __future__ import annotations

import contextlib
import struct
import threading
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
from asgi_rabbitmq import RabbitmqChannelLayer
from asgi_rabbitmq._link import Link
from asgi_rabbitmq._wire import streamline
from asgi_rabbitmq.testing import isolated_layer

pytestmark = pytest.mark.services

_BASIC = 60
_BASIC_CONSUME = 20
_BASIC_CANCEL = 30
_BASIC_ACK = 80
_BASIC_PUBLISH = 40


class RecordingSocket:
    """Stand in for the link's socket: record every ``send``, optionally take only part."""

    def __init__(self, sock: Any, take: int | None = None) -> None:
        self.sock = sock
        self.take = take
        self.writes: list[bytes] = []

    def send(self, data: bytes) -> int:
        self.writes.append(bytes(data))
        if self.take is not None:
            # Fault injection: the socket accepts only the first few bytes once.
            take, self.take = self.take, None
            return int(self.sock.send(data[:take]))
        return int(self.sock.send(data))


def _methods(data: bytes) -> list[tuple[int, int]]:
    """Return the (class id, method id) of every AMQP method frame in ``data``."""
    found = []
    offset = 0
    while offset + 7 <= len(data):
        kind, _channel, size = struct.unpack_from(">BHI", data, offset)
        if kind == 1:
            found.append(struct.unpack_from(">HH", data, offset + 7))
        offset += 7 + size + 1
    return found


@contextlib.contextmanager
def _sent_later(
    layer: RabbitmqChannelLayer, delay: float, channel: str, message: dict[str, Any]
) -> Iterator[None]:
    """Send ``message`` from another thread ``delay`` seconds into the block."""
    sender = threading.Timer(delay, layer.send, (channel, message))
    sender.start()
    try:
        yield
    finally:
        sender.join()


def _link(layer: RabbitmqChannelLayer) -> Link:
    link: Link = layer._local.link
    return link


def _record(layer: RabbitmqChannelLayer, take: int | None = None) -> RecordingSocket:
    wire = _link(layer).wire
    assert wire is not None, "plaintext links are streamlined"
    recorder = RecordingSocket(wire._sock, take)
    wire._sock = recorder
    return recorder


def test_plaintext_links_are_streamlined(layer: RabbitmqChannelLayer) -> None:
    layer.send("warm", {"n": 1})
    assert _link(layer).wire is not None


def test_a_publish_leaves_in_one_write(layer: RabbitmqChannelLayer) -> None:
    layer.send("one", {"n": 1})  # declares the queue first
    recorder = _record(layer)
    layer.send("one", {"n": 2})
    assert len(recorder.writes) == 1
    assert _methods(recorder.writes[0]) == [(_BASIC, _BASIC_PUBLISH)]
    assert layer.receive(["one"]) == ("one", {"n": 1})
    assert layer.receive(["one"]) == ("one", {"n": 2})


def test_a_large_message_of_many_frames_arrives_intact(layer: RabbitmqChannelLayer) -> None:
    payload = bytes(range(256)) * 3900  # about 1 MB: several body frames joined
    layer.send("big", {"warm": True})
    recorder = _record(layer)
    layer.send("big", {"data": payload})
    assert len(recorder.writes) == 1
    assert layer.receive(["big"]) == ("big", {"warm": True})
    assert layer.receive(["big"]) == ("big", {"data": payload})


def test_what_the_socket_does_not_take_goes_through_pikas_buffer(
    layer: RabbitmqChannelLayer,
) -> None:
    layer.send("part", {"n": 0})
    recorder = _record(layer, take=5)
    layer.send("part", {"n": 1, "text": "x" * 5000})
    layer.send("part", {"n": 2})
    assert layer.receive(["part"]) == ("part", {"n": 0})
    assert layer.receive(["part"]) == ("part", {"n": 1, "text": "x" * 5000})
    assert layer.receive(["part"]) == ("part", {"n": 2})
    assert recorder.writes  # the first write really was cut short


def test_blocking_receive_sends_its_cancel_and_ack_in_one_write(
    layer: RabbitmqChannelLayer,
) -> None:
    layer.receive(["later"])  # connect and declare
    recorder = _record(layer)
    # Late enough that the receive has found the queue empty and is consuming.
    with _sent_later(layer, 1.0, "later", {"n": 1}):
        assert layer.receive(["later"], block=True) == ("later", {"n": 1})
    methods = [_methods(data) for data in recorder.writes]
    assert [(_BASIC, _BASIC_CANCEL), (_BASIC, _BASIC_ACK)] in methods


def test_blocking_receive_starts_all_its_consumers_in_one_write(
    layer: RabbitmqChannelLayer,
) -> None:
    layer.receive(["one", "two", "three"])  # connect and declare
    recorder = _record(layer)
    with _sent_later(layer, 1.0, "two", {"n": 2}):
        assert layer.receive(["one", "two", "three"], block=True) == ("two", {"n": 2})
    methods = [_methods(data) for data in recorder.writes]
    assert [(_BASIC, _BASIC_CONSUME)] * 3 in methods
    assert _link(layer).main._impl._consumers == {}


def test_a_timed_out_blocking_receive_leaves_no_consumer_behind(
    rabbitmq_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wakes: list[Link] = []
    original = Link.stop_waiting

    def counted(self: Link) -> None:
        wakes.append(self)
        original(self)

    monkeypatch.setattr(Link, "stop_waiting", counted)
    with isolated_layer(rabbitmq_url, receive_timeout=0.3) as layer:
        assert layer.receive(["idle", "quiet"], block=True) == (None, None)
        link = _link(layer)
        assert link.main._impl._consumers == {}
        # Each cancel-ok ended the wait for it at once (not after a 1 s slice).
        assert len(wakes) == 2
        layer.send("idle", {"n": 1})
        assert layer.receive(["idle"], block=True) == ("idle", {"n": 1})


def test_blocking_receive_works_when_pika_lacks_the_internals(
    layer: RabbitmqChannelLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Link, "can_consume_without_waiting", lambda self: False)
    monkeypatch.setattr(Link, "can_cancel_without_waiting", lambda self: False)
    with _sent_later(layer, 0.5, "plain", {"n": 1}):
        assert layer.receive(["other", "plain"], block=True) == ("plain", {"n": 1})
    assert layer.receive(["plain"]) == (None, None)


def test_a_queue_deleted_under_a_waiting_consumer_is_declared_again(
    layer: RabbitmqChannelLayer,
) -> None:
    layer.receive(["gone"])  # declare it (and remember that)
    link = _link(layer)
    main = link.main
    link.admin.queue_delete(layer.names.queue("gone"))
    layer._local.waits = 1  # this thread consumes at once instead of polling first
    with _sent_later(layer, 1.0, "gone", {"n": 1}):
        # The consume on the missing queue gets the channel closed (404): the
        # layer declares the queue again and waits once more.
        assert layer.receive(["gone"], block=True) == ("gone", {"n": 1})
    assert _link(layer).main is not main  # the broker did close it


def test_corked_writes_are_sent_even_when_the_block_fails(layer: RabbitmqChannelLayer) -> None:
    layer.send("cork", {"n": 1})
    link = _link(layer)
    method, _props, _body = link.main.basic_get(layer.names.queue("cork"), auto_ack=False)
    recorder = _record(layer)
    with pytest.raises(RuntimeError), link.corked():
        link.main.basic_nack(method.delivery_tag, requeue=True)
        assert recorder.writes == []  # held back inside the block
        raise RuntimeError("boom")
    assert len(recorder.writes) == 1
    deadline = time.monotonic() + 5
    found: tuple[Any, Any] = (None, None)
    while found[0] is None and time.monotonic() < deadline:
        found = layer.receive(["cork"])
    assert found == ("cork", {"n": 1})  # the nack reached the broker: requeued


def test_connections_with_other_transports_are_left_alone() -> None:
    connection: Any = types.SimpleNamespace(_impl=types.SimpleNamespace(_transport=object()))
    assert streamline(connection) is None
