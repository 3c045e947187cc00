"""The delay server driven one step at a time on the in-memory layer with a fake clock."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.inmemory import ChannelLayer
from channels import Channel
from channels.asgi import ChannelLayerWrapper, channel_layers
from channels.delay.models import DelayedMessage, decode_content, encode_content
from channels.delay.worker import MAX_DELAY_MS, DelayWorker
from django.apps import apps
from django.core.management import CommandError, call_command
from django.utils import timezone

pytestmark = pytest.mark.django_db


class Clock:
    """A settable wall clock for DelayWorker(time_fn=...)."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, milliseconds: float) -> None:
        self.now += datetime.timedelta(milliseconds=milliseconds)


@pytest.fixture
def layer() -> Iterator[ChannelLayerWrapper]:
    wrapper = ChannelLayerWrapper(
        ChannelLayer(receive_timeout=0.05, channel_capacity={"tiny": 1}), "default", []
    )
    channel_layers.set("default", wrapper)
    yield wrapper
    channel_layers.reset()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def worker(layer: ChannelLayerWrapper, clock: Clock) -> DelayWorker:
    return DelayWorker(layer, signal_handlers=False, time_fn=clock, retry_delay=2.0)


def receive(layer: ChannelLayerWrapper, channel: str) -> dict[str, Any] | None:
    name, content = layer.receive([channel], block=False)
    return None if name is None else dict(content)


def test_app_is_installed_as_channels_delay_with_an_identifier_label() -> None:
    config = apps.get_app_config("channels_delay")
    assert config.name == "channels.delay"
    assert DelayedMessage._meta.db_table == "channels_delay_delayedmessage"


def test_manual_example_is_delivered_after_ten_seconds(
    layer: ChannelLayerWrapper, clock: Clock, worker: DelayWorker
) -> None:
    delayed_message = {"channel": "example_channel", "content": {"x": 1}, "delay": 10 * 1000}
    # The message will be delayed 10 seconds by the server and then sent
    Channel("asgi.delay").send(delayed_message, immediately=True)
    assert worker.step() == 0
    assert DelayedMessage.objects.count() == 1
    clock.advance(9999)
    assert worker.step() == 0
    assert receive(layer, "example_channel") is None
    clock.advance(1)
    assert worker.step() == 1
    assert receive(layer, "example_channel") == {"x": 1}
    assert DelayedMessage.objects.count() == 0
    assert worker.next_due is None


def test_due_messages_go_out_in_due_order_with_bytes_intact(
    layer: ChannelLayerWrapper, clock: Clock, worker: DelayWorker
) -> None:
    for delay, n in ((300, 3), (100, 1), (200, 2), (0, 0)):
        layer.send(
            "asgi.delay", {"channel": "out", "content": {"n": n, "b": b"\xff"}, "delay": delay}
        )
    assert worker.step() == 1  # delay 0 is due at once
    assert worker.next_due == clock.now + datetime.timedelta(milliseconds=100)
    clock.advance(1000)
    assert worker.step() == 3
    assert [receive(layer, "out") for _ in range(4)] == [{"n": n, "b": b"\xff"} for n in range(4)]


@pytest.mark.parametrize(
    ("request_content", "complaint"),
    [
        ({"content": {}, "delay": 1}, "missing key(s) ['channel']"),
        ({"channel": 5, "content": {}, "delay": 1}, "'channel' must be a str"),
        ({"channel": "bad name!", "content": {}, "delay": 1}, "'channel' is not usable"),
        ({"channel": "ok", "content": "text", "delay": 1}, "'content' must be a dict"),
        ({"channel": "ok", "content": {}, "delay": -1}, "'delay' must be an int"),
        ({"channel": "ok", "content": {}, "delay": 1.5}, "'delay' must be an int"),
        ({"channel": "ok", "content": {}, "delay": True}, "'delay' must be an int"),
        ({"channel": "ok", "content": {}, "delay": MAX_DELAY_MS + 1}, "'delay' must be an int"),
    ],
)
def test_malformed_requests_are_logged_and_skipped(
    layer: ChannelLayerWrapper,
    worker: DelayWorker,
    caplog: pytest.LogCaptureFixture,
    request_content: dict[str, Any],
    complaint: str,
) -> None:
    layer.send("asgi.delay", request_content)
    layer.send("asgi.delay", {"channel": "good", "content": {"fine": True}, "delay": 0})
    with caplog.at_level(logging.WARNING, logger="channels.delay"):
        assert worker.step() == 1
    assert receive(layer, "good") == {"fine": True}
    assert "Skipping a malformed asgi.delay message" in caplog.text
    assert complaint in caplog.text


def test_full_channel_reschedules_until_there_is_room(
    layer: ChannelLayerWrapper, clock: Clock, worker: DelayWorker, caplog: pytest.LogCaptureFixture
) -> None:
    layer.send("tiny", {"first": True})
    layer.send("asgi.delay", {"channel": "tiny", "content": {"second": True}, "delay": 10})
    assert worker.step() == 0
    clock.advance(10)
    with caplog.at_level(logging.WARNING, logger="channels.delay"):
        assert worker.step() == 0
    assert "the channel is full" in caplog.text
    stored = DelayedMessage.objects.get()
    assert stored.attempts == 1
    assert stored.due_date == clock.now + datetime.timedelta(seconds=2)
    assert receive(layer, "tiny") == {"first": True}
    clock.advance(1999)
    assert worker.step() == 0
    clock.advance(1)
    assert worker.step() == 1
    assert receive(layer, "tiny") == {"second": True}


def test_a_message_claimed_by_another_server_is_not_sent_twice(
    layer: ChannelLayerWrapper, clock: Clock, worker: DelayWorker
) -> None:
    layer.send("asgi.delay", {"channel": "once", "content": {}, "delay": 5})
    worker.step()
    row = DelayedMessage.objects.get()
    other = DelayWorker(layer, signal_handlers=False, time_fn=clock)
    clock.advance(5)
    assert other.step() == 1
    assert worker._send(row, clock.now) == 0  # its row is gone: someone else sent it
    assert receive(layer, "once") == {}
    assert receive(layer, "once") is None


def test_rows_left_by_another_server_are_picked_up(
    layer: ChannelLayerWrapper, clock: Clock, worker: DelayWorker
) -> None:
    DelayedMessage.objects.create(
        channel_name="left", content=encode_content({"k": "v"}), due_date=clock.now
    )
    assert worker.next_due is None
    assert worker.step() == 1
    assert receive(layer, "left") == {"k": "v"}


@pytest.mark.parametrize(
    "content",
    [
        {"__bytes__": "not bytes", "x": [b"a", {"__dict__": 1}]},
        {"__dict__": {"__bytes__": "x"}},
        {"nested": {"list": [1, 2.5, None, True, "s", b""]}},
    ],
)
def test_content_codec_round_trips(content: dict[str, Any]) -> None:
    assert decode_content(encode_content(content)) == content


def test_content_codec_rejects_what_json_cannot_keep() -> None:
    with pytest.raises(TypeError, match=r"content\['a'\] has the key 1"):
        encode_content({"a": {1: "x"}})
    with pytest.raises(TypeError, match=r"content\['s'\] is set"):
        encode_content({"s": {1}})


def test_worker_options_are_checked(layer: ChannelLayerWrapper) -> None:
    with pytest.raises(ValueError, match="database_sleep_duration is 0"):
        DelayWorker(layer, database_sleep_duration=0)
    with pytest.raises(ValueError, match="batch_size is 0"):
        DelayWorker(layer, batch_size=0)


def test_rundelay_refuses_bad_options_and_the_in_memory_layer() -> None:
    with pytest.raises(CommandError, match="in-memory layer"):
        call_command("rundelay")
    with pytest.raises(CommandError, match="--sleep is 0"):
        call_command("rundelay", sleep=0)
    with pytest.raises(CommandError, match="No channel layer with the alias 'nope'"):
        call_command("rundelay", layer="nope")


def test_exported_names() -> None:
    import channels.delay.models
    import channels.delay.worker
    from channels.delay.management.commands import rundelay

    assert set(channels.delay.worker.__all__) == {
        "DELAY_CHANNEL",
        "MAX_DELAY_MS",
        "DelayWorker",
        "InvalidDelayRequestError",
    }
    assert set(channels.delay.models.__all__) == {
        "DelayedMessage",
        "decode_content",
        "encode_content",
    }
    assert rundelay.__all__ == ["Command"]


def test_migrations_match_the_models() -> None:
    call_command("makemigrations", "channels_delay", "--check", "--dry-run", verbosity=0)
