"""Broker restart (1.x's top complaint): the layer reconnects by itself."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest
from asgi_rabbitmq import RabbitmqChannelLayer, RabbitmqConnectionError

from .own_broker import OwnBroker

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(scope="module")
def broker() -> Iterator[OwnBroker]:
    if shutil.which("rabbitmq-server") is None:
        pytest.fail("rabbitmq-server is not installed; the restart test needs its own node")
    node = OwnBroker(port=5701, dist_port=25701)
    try:
        node.start()
        yield node
    finally:
        node.cleanup()


def _until_ok(action, seconds: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        try:
            return action()
        except RabbitmqConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_layer_recovers_after_broker_restart_without_being_recreated(broker: OwnBroker) -> None:
    layer = RabbitmqChannelLayer(broker.url, prefix="restart", expiry=30)
    try:
        layer.send("before", {"n": 1})
        layer.group_add("room", "member!a")
        assert layer.receive(["before"]) == ("before", {"n": 1})

        broker.stop()
        # During the outage every call raises the layer's clear, catchable error.
        for call in (
            lambda: layer.send("during", {"n": 2}),
            lambda: layer.receive(["during"]),
            lambda: layer.group_add("room", "member!b"),
        ):
            with pytest.raises(RabbitmqConnectionError, match="RabbitMQ at"):
                call()

        broker.start()
        # Transient queues died with the node; the same layer object declares them again.
        _until_ok(lambda: layer.send("after", {"n": 3}))
        assert layer.receive(["after"]) == ("after", {"n": 3})
        layer.group_add("room", "member!c")
        layer.send_group("room", {"n": 4})
        deadline = time.monotonic() + 10
        got = (None, None)
        while got[0] is None and time.monotonic() < deadline:
            got = layer.receive(["member!"], block=True)
        assert got == ("member!c", {"n": 4})
        assert layer.group_channels("room") == ["member!c"]
    finally:
        layer.close()


def test_blocking_receive_during_restart_raises_then_recovers(broker: OwnBroker) -> None:
    layer = RabbitmqChannelLayer(broker.url, prefix="restart2", receive_timeout=30)
    try:
        layer.send("warm", {})
        assert layer.receive(["warm"])[0] == "warm"
        import threading

        errors: list[BaseException] = []

        def blocked() -> None:
            try:
                layer.receive(["idle"], block=True)
            except RabbitmqConnectionError as exc:
                errors.append(exc)

        thread = threading.Thread(target=blocked)
        thread.start()
        time.sleep(1.0)
        broker.stop()
        thread.join(60)
        assert not thread.is_alive()
        assert len(errors) == 1
        broker.start()
        _until_ok(lambda: layer.send("idle", {"back": True}))
        assert layer.receive(["idle"], block=True) == ("idle", {"back": True})
    finally:
        layer.close()
