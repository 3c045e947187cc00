"""The RabbitMQ layer against the real broker: messages, capacity, size, encryption."""

from __future__ import annotations

import threading
import time

import pytest
from asgi_rabbitmq import RabbitmqChannelLayer, RabbitmqConnectionError
from asgi_rabbitmq.testing import isolated_layer

pytestmark = pytest.mark.services


def test_send_receive_keeps_bytes_and_str_apart(layer: RabbitmqChannelLayer) -> None:
    layer.send("chat", {"bytes": b"\x00\xff", "text": "héllo", "n": 2**62, "t": (1, 2)})
    assert layer.receive(["chat"]) == (
        "chat",
        {"bytes": b"\x00\xff", "text": "héllo", "n": 2**62, "t": [1, 2]},
    )
    assert layer.receive(["chat"]) == (None, None)


def test_process_specific_channels_share_one_ordered_queue(layer: RabbitmqChannelLayer) -> None:
    for index in range(5):
        layer.send(f"reply!c{index % 2}", {"n": index})
    got = [layer.receive(["reply!"]) for _ in range(5)]
    assert got == [(f"reply!c{index % 2}", {"n": index}) for index in range(5)]


def test_full_channel_raises_channel_full_exactly_with_many_senders(
    layer: RabbitmqChannelLayer,
) -> None:
    accepted = []
    refused = []

    def sender() -> None:
        for _ in range(10):
            try:
                layer.send("busy", {"x": 1})
                accepted.append(1)
            except layer.ChannelFull:
                refused.append(1)

    threads = [threading.Thread(target=sender) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(accepted) == 20  # the fixture's capacity
    assert len(refused) == 40
    assert layer.channel_statistics("busy")["messages_pending"] == 20


def test_message_over_one_mebibyte_encoded_raises_message_too_large(
    layer: RabbitmqChannelLayer,
) -> None:
    layer.send("big", {"data": b"x" * 1_000_000})
    assert layer.receive(["big"])[1] == {"data": b"x" * 1_000_000}
    with pytest.raises(layer.MessageTooLarge):
        layer.send("big", {"data": b"x" * (1024 * 1024)})
    with pytest.raises(layer.MessageTooLarge):
        layer.send_group("anything", {"data": "y" * (1024 * 1024)})


def test_encrypted_layers_share_messages_and_rotate_keys(rabbitmq_url: str) -> None:
    with isolated_layer(rabbitmq_url, symmetric_encryption_keys=["old"]) as old:
        new = RabbitmqChannelLayer(
            rabbitmq_url, prefix=old.names.prefix, symmetric_encryption_keys=["new", "old"]
        )
        try:
            old.send("secret", {"pin": "1234"})
            assert new.receive(["secret"]) == ("secret", {"pin": "1234"})
            new.send("secret", {"pin": "5678"})
            # The old layer cannot read the new key: the message is dropped, not crashed on.
            assert old.receive(["secret"]) == (None, None)
        finally:
            new.close()


def test_encrypted_bodies_on_the_broker_are_not_plain_msgpack(rabbitmq_url: str) -> None:
    with isolated_layer(rabbitmq_url, symmetric_encryption_keys=["k"]) as layer:
        layer.send("secret", {"pin": "1234"})

        def peek(link):  # type: ignore[no-untyped-def]
            _method, _props, body = link.admin.basic_get(layer.names.queue("secret"), True)
            return body

        body = layer.call(peek)
        assert b"1234" not in body and body.startswith(b"gAAAA")


def test_blocking_receive_returns_within_the_receive_timeout(rabbitmq_url: str) -> None:
    with isolated_layer(rabbitmq_url, receive_timeout=0.5) as layer:
        started = time.monotonic()
        assert layer.receive(["nothing", "here!"], block=True) == (None, None)
        assert time.monotonic() - started < 30


def test_blocking_receive_wakes_for_a_message_sent_later(layer: RabbitmqChannelLayer) -> None:
    timer = threading.Timer(0.3, layer.send, ("later", {"n": 1}))
    timer.start()
    try:
        assert layer.receive(["other", "later"], block=True) == ("later", {"n": 1})
    finally:
        timer.cancel()
    # The message was acknowledged: nobody else gets it.
    assert layer.receive(["later"]) == (None, None)


def test_unreachable_broker_raises_a_clear_connection_error() -> None:
    layer = RabbitmqChannelLayer("amqp://guest:secret@127.0.0.1:1/%2F", prefix="x")
    with pytest.raises(RabbitmqConnectionError, match=r"127\.0\.0\.1:1") as info:
        layer.send("a", {})
    assert "secret" not in str(info.value)
    assert isinstance(info.value, ConnectionError)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"url": "redis://localhost"}, "AMQP URL"),
        ({"url": []}, "empty list"),
        ({"receive_timeout": 0}, "receive_timeout"),
        ({"queue_expiry": 10, "expiry": 60}, "queue_expiry"),
        ({"symmetric_encryption_keys": "one-key"}, "list"),
        ({"symmetric_encryption_keys": []}, "empty"),
        ({"async_threads": 0}, "async_threads"),
    ],
)
def test_bad_configuration_is_refused_with_a_clear_error(config: dict, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises((ValueError, TypeError), match=match):
        RabbitmqChannelLayer(**config)


def test_layers_with_different_capacity_on_one_prefix_get_a_clear_error(
    layer: RabbitmqChannelLayer,
) -> None:
    from asgi_rabbitmq import QueueArgumentsMismatchError

    layer.send("shared", {})
    other = RabbitmqChannelLayer(
        layer.url_description.replace("***", "guest"),
        prefix=layer.names.prefix,
        expiry=1,
        capacity=5,
    )
    try:
        with pytest.raises(QueueArgumentsMismatchError, match="capacity"):
            other.send("shared", {})
    finally:
        other.close()


def test_thread_safety_one_layer_many_threads_every_message_once(
    layer: RabbitmqChannelLayer,
) -> None:
    received: list[tuple[str, int]] = []
    lock = threading.Lock()
    senders_done = threading.Event()
    total = 6 * 40

    def sender(index: int) -> None:
        for n in range(40):
            while True:
                try:
                    layer.send(f"work{index % 2}", {"id": index * 1000 + n})
                    break
                except layer.ChannelFull:
                    time.sleep(0.01)

    def receiver() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            channel, message = layer.receive(["work0", "work1"], block=True)
            if channel is not None:
                with lock:
                    received.append((channel, message["id"]))
            elif senders_done.is_set():
                return

    receivers = [threading.Thread(target=receiver) for _ in range(4)]
    senders = [threading.Thread(target=sender, args=(i,)) for i in range(6)]
    for thread in receivers + senders:
        thread.start()
    for thread in senders:
        thread.join(120)
    senders_done.set()
    for thread in receivers:
        thread.join(120)
    ids = sorted(message_id for _channel, message_id in received)
    assert ids == sorted(i * 1000 + n for i in range(6) for n in range(40))
    assert len(ids) == total


def test_connections_of_finished_threads_are_closed(layer: RabbitmqChannelLayer) -> None:
    def use() -> None:
        layer.send("t", {})

    for _ in range(3):
        thread = threading.Thread(target=use)
        thread.start()
        thread.join(60)
    layer.receive(["t"])  # this thread connects and closes the finished threads' links
    assert len(layer._links) == 1


def test_cluster_url_list_uses_the_first_node_that_answers(rabbitmq_url: str) -> None:
    with isolated_layer([_dead_node(), rabbitmq_url]) as layer:
        layer.send("clustered", {"n": 1})
        assert layer.receive(["clustered"]) == ("clustered", {"n": 1})


def _dead_node() -> str:
    return "amqp://guest:guest@127.0.0.1:1/%2F"
