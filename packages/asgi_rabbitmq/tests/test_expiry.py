"""Broker-side expiry: idle queues and memberships vanish; dead channels leave groups."""

from __future__ import annotations

import time
from collections.abc import Callable

import pika.exceptions
import pytest
from asgi_rabbitmq import RabbitmqChannelLayer
from asgi_rabbitmq._link import Link
from asgi_rabbitmq.testing import isolated_layer

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _exists(layer: RabbitmqChannelLayer, kind: str, name: str) -> bool:
    def probe(link: Link) -> bool:
        try:
            if kind == "queue":
                link.admin.queue_declare(name, passive=True)
            else:
                link.admin.exchange_declare(name, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            assert exc.reply_code == 404
            link.reopen_admin()
            return False
        return True

    return layer.call(probe)


def _eventually(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return condition()


def test_idle_channel_queue_and_membership_are_deleted_by_the_broker(rabbitmq_url: str) -> None:
    with isolated_layer(rabbitmq_url, expiry=1, queue_expiry=1, group_expiry=1) as layer:
        layer.group_add("room", "idle")
        queue = layer.names.queue("idle")
        member = layer.names.member_queue("room", "idle")
        exchange = layer.names.group_exchange("room")
        assert _exists(layer, "queue", queue) and _exists(layer, "queue", member)
        assert _exists(layer, "exchange", exchange)
        # Checking existence renews a queue's lease, so look only once it should be gone.
        time.sleep(4)
        assert not _exists(layer, "queue", member)
        assert not _exists(layer, "queue", queue)
        # The group exchange is auto-delete: it went with its last membership.
        assert not _exists(layer, "exchange", exchange)
        # The layer declares everything again on the next use.
        layer.send("idle", {"n": 1})
        assert layer.receive(["idle"]) == ("idle", {"n": 1})


def test_message_expires_unread_after_expiry(layer: RabbitmqChannelLayer) -> None:
    layer.send("slow", {"n": 1})
    time.sleep(1.5)
    assert layer.receive(["slow"]) == (None, None)


def test_channel_whose_direct_message_expired_is_evicted_from_its_groups(
    layer: RabbitmqChannelLayer,
) -> None:
    layer.group_add("room", "gone!x")
    layer.group_add("room", "alive!y")
    layer.group_add("hall", "gone!x")
    layer.send("gone!x", {"unread": True})
    assert _eventually(lambda: layer.group_channels("room") == ["alive!y"])
    assert layer.group_channels("hall") == []
    # Its membership relay queue is gone, so group messages no longer reach it.
    assert not _exists(layer, "queue", layer.names.member_queue("room", "gone!x"))


def test_group_message_that_expired_evicts_the_member_even_from_another_process(
    rabbitmq_url: str,
) -> None:
    with isolated_layer(rabbitmq_url, expiry=1, group_expiry=30) as adder:
        # A second layer instance stands for another process: it never added anyone.
        other = RabbitmqChannelLayer(
            rabbitmq_url, prefix=adder.names.prefix, expiry=1, group_expiry=30
        )
        try:
            adder.group_add("room", "dead")
            adder.group_add("room", "reader")
            other.send_group("room", {"hello": 1})
            assert _eventually(lambda: adder.receive(["reader"])[0] == "reader", 10)
            time.sleep(1.5)  # "dead" never reads: its copy expires.
            assert _eventually(lambda: other.group_channels("room") == ["reader"])
            other.send_group("room", {"again": 1})
            assert _eventually(lambda: adder.receive(["reader"])[0] == "reader", 10)
            assert adder.receive(["dead"]) == (None, None)
        finally:
            other.close()


def test_member_re_added_after_its_message_died_is_kept(layer: RabbitmqChannelLayer) -> None:
    layer.group_add("room", "back")
    layer.send("back", {"unread": True})
    time.sleep(1.5)
    time.sleep(1.1)  # x-death times are whole seconds: re-add clearly later.
    layer.group_add("room", "back")
    assert layer.group_channels("room") == ["back"]
    layer.send_group("room", {"n": 2})
    assert _eventually(lambda: layer.receive(["back"]) == ("back", {"n": 2}), 10)


def test_group_membership_ends_group_expiry_after_the_last_add(rabbitmq_url: str) -> None:
    with isolated_layer(rabbitmq_url, expiry=1, group_expiry=2) as layer:
        layer.group_add("room", "member")
        assert layer.group_channels("room") == ["member"]
        time.sleep(2.5)
        assert layer.group_channels("room") == []
        layer.send_group("room", {"n": 1})
        time.sleep(0.3)
        assert layer.receive(["member"]) == (None, None)


def test_roster_of_a_busy_group_is_compacted_when_read(layer: RabbitmqChannelLayer) -> None:
    for index in range(40):
        layer.group_add("churn", f"visitor{index}")
    for index in range(37):
        layer.group_discard("churn", f"visitor{index}")
    roster = layer.names.roster_queue("churn")

    def records(link: Link) -> int:
        return int(link.admin.queue_declare(roster, passive=True).method.message_count)

    assert layer.call(records) == 77
    assert layer.group_channels("churn") == ["visitor37", "visitor38", "visitor39"]
    assert _eventually(lambda: layer.call(records) == 3, 10)
    assert layer.group_channels("churn") == ["visitor37", "visitor38", "visitor39"]
