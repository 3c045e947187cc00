"""LocalRemoteChannelLayer over two in-memory layers: routing, groups, errors, receives."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from asgi_conformance.profile import LayerProfile, ManualClock
from asgiref.conformance import ConformanceTestCase
from asgiref.inmemory import ChannelLayer
from asgiref.split_layer import (
    LocalRemoteChannelLayer,
    check_local_wait,
    ipc_local_layer,
    is_local_name,
    local_layer_options,
)


class OwnErrorsLayer(ChannelLayer):
    """An in-memory layer with its own exception classes, as real backends have."""

    class ChannelFull(Exception):
        pass

    class MessageTooLarge(Exception):
        pass


class ClosableLayer(OwnErrorsLayer):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class CountingSplit(LocalRemoteChannelLayer):
    """Records which pool ``receive_async`` asks for."""

    def __init__(self, *args: Any, pool: concurrent.futures.Executor | None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.pool = pool
        self.pool_requests = 0

    def receive_executor(self) -> concurrent.futures.Executor | None:
        self.pool_requests += 1
        return self.pool


CLOCK = ManualClock()
SETTINGS: dict[str, Any] = {"expiry": 5, "group_expiry": 30, "capacity": 20}


def conformance_layer(**extra: Any) -> LocalRemoteChannelLayer:
    options = {**SETTINGS, "time_fn": CLOCK, **extra}
    local = OwnErrorsLayer(receive_timeout=0.05, **options)
    remote = OwnErrorsLayer(receive_timeout=1, **options)
    return LocalRemoteChannelLayer(local, remote, receive_timeout=1, local_wait=0.05, **options)


class SplitConformance(ConformanceTestCase):
    profile = LayerProfile(
        factory=conformance_layer,
        expiry=SETTINGS["expiry"],
        group_expiry=SETTINGS["group_expiry"],
        capacity=SETTINGS["capacity"],
        clock=CLOCK,
        configure=lambda options: conformance_layer(**options),
        name="split_layer",
    )


def make(receive_timeout: float = 30, local_wait: float = 0.05, **kw: Any) -> CountingSplit:
    local = ClosableLayer(capacity=2, receive_timeout=local_wait)
    remote = ClosableLayer(capacity=2, receive_timeout=receive_timeout)
    return CountingSplit(
        local, remote, receive_timeout=receive_timeout, local_wait=local_wait, **kw
    )


@pytest.fixture
def pool() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    yield executor
    executor.shutdown(wait=True)


@pytest.fixture
def layer() -> CountingSplit:
    return make(pool=None)


def test_names_route_by_type_character() -> None:
    assert is_local_name("http.request")
    assert not is_local_name("http.response?abc")
    assert not is_local_name("daphne!xyz")


def test_send_routes_normal_names_locally_and_reply_names_remotely(layer: CountingSplit) -> None:
    layer.send("http.request", {"n": 1})
    layer.send("reply?abc", {"n": 2})
    layer.send("daphne!abc", {"n": 3})
    assert layer.local.receive(["http.request"]) == ("http.request", {"n": 1})
    assert layer.local.receive(["reply?abc", "daphne!"]) == (None, None)
    assert layer.remote.receive(["reply?abc"]) == ("reply?abc", {"n": 2})
    assert layer.remote.receive(["daphne!"]) == ("daphne!abc", {"n": 3})


def test_receive_mixes_both_stores_without_blocking(layer: CountingSplit) -> None:
    assert layer.receive(["http.request", "reply?abc"]) == (None, None)
    layer.send("reply?abc", {"n": 2})
    assert layer.receive(["http.request", "reply?abc"]) == ("reply?abc", {"n": 2})
    layer.send("http.request", {"n": 1})
    assert layer.receive(["http.request", "http.request"]) == ("http.request", {"n": 1})
    assert layer.receive([]) == (None, None)


def test_new_channel_comes_from_the_remote_store(layer: CountingSplit) -> None:
    name = layer.new_channel("http.response?")
    assert name.startswith("http.response?") and len(name) > len("http.response?")
    layer.send(name, {"ok": True})
    assert layer.remote.receive([name]) == (name, {"ok": True})


def test_groups_span_both_stores(layer: CountingSplit) -> None:
    layer.group_add("room", "worker.chat")
    layer.group_add("room", "daphne!one")
    assert layer.local.group_channels("room") == ["worker.chat"]
    assert layer.remote.group_channels("room") == ["daphne!one"]
    assert sorted(layer.group_channels("room")) == ["daphne!one", "worker.chat"]
    layer.send_group("room", {"text": "hi"})
    assert layer.receive(["worker.chat"]) == ("worker.chat", {"text": "hi"})
    assert layer.receive(["daphne!"]) == ("daphne!one", {"text": "hi"})
    layer.group_discard("room", "daphne!one")
    assert layer.group_channels("room") == ["worker.chat"]
    with pytest.raises(TypeError, match="group"):
        layer.group_add("bad?group", "worker.chat")


def test_sub_layer_errors_become_this_layers_own(layer: CountingSplit) -> None:
    for channel in ("http.request", "reply?abc"):
        layer.send(channel, {})
        layer.send(channel, {})
        with pytest.raises(layer.ChannelFull) as caught:
            layer.send(channel, {})
        assert isinstance(caught.value.__cause__, OwnErrorsLayer.ChannelFull)
    with pytest.raises(layer.MessageTooLarge) as too_large:
        layer.send("other", {"data": b"x" * (2 << 20)})
    assert isinstance(too_large.value.__cause__, OwnErrorsLayer.MessageTooLarge)
    layer.group_add("room", "daphne!one")
    layer.group_add("room", "worker.chat")
    layer.send_group("room", {})
    layer.send_group("room", {})
    # A full member is skipped by send_group in the in-memory store, not raised.
    layer.send_group("room", {})


def test_errors_already_of_this_layer_pass_through_unwrapped() -> None:
    local = ChannelLayer(capacity=1, receive_timeout=0.05)
    remote = ChannelLayer(capacity=1)
    split = LocalRemoteChannelLayer(local, remote)
    split.send("a", {})
    with pytest.raises(split.ChannelFull) as caught:
        split.send("a", {})
    assert caught.value.__cause__ is None


def test_flush_and_statistics_cover_both_stores(layer: CountingSplit) -> None:
    layer.send("http.request", {})
    layer.send("reply?abc", {})
    layer.send("reply?abc", {})
    stats = layer.global_statistics()
    assert stats["messages_pending"] == 3
    assert stats["messages_max_age"] >= 0
    assert stats["messages_count"] == 3
    assert layer.channel_statistics("reply?abc")["messages_pending"] == 2
    assert layer.channel_statistics("http.request")["messages_pending"] == 1
    layer.flush()
    assert layer.global_statistics()["messages_pending"] == 0


@pytest.mark.parametrize("channel", ["reply?abc", "http.request"])
def test_blocking_mixed_receive_picks_up_a_later_send_on_either_store(
    layer: CountingSplit, channel: str
) -> None:
    timer = threading.Timer(0.2, layer.send, (channel, {"late": True}))
    timer.start()
    try:
        assert layer.receive(["http.request", "reply?abc"], block=True) == (channel, {"late": True})
    finally:
        timer.cancel()


def test_blocking_receive_gives_up_after_receive_timeout() -> None:
    split = make(receive_timeout=0.2, local_wait=0.05, pool=None)
    assert split.receive(["http.request", "reply?abc"], block=True) == (None, None)
    assert split.receive(["http.request"], block=True) == (None, None)
    assert split.receive(["reply?abc"], block=True) == (None, None)


def test_receive_async_on_reply_names_awaits_the_remote_store(layer: CountingSplit) -> None:
    async def scenario() -> Any:
        asyncio.get_running_loop().call_later(0.1, layer.send, "reply?abc", {"n": 1})
        return await layer.receive_async(["reply?abc"])

    assert asyncio.run(scenario()) == ("reply?abc", {"n": 1})
    assert layer.pool_requests == 0


def test_receive_async_on_mixed_names_uses_the_receive_executor(
    pool: concurrent.futures.ThreadPoolExecutor,
) -> None:
    split = make(pool=pool)
    threads: list[str] = []
    original = split.local.receive

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    split.local.receive = spy

    async def scenario() -> Any:
        asyncio.get_running_loop().call_later(0.1, split.send, "http.request", {"n": 2})
        return await split.receive_async(["http.request", "reply?abc"])

    assert asyncio.run(scenario()) == ("http.request", {"n": 2})
    assert split.pool_requests == 1
    assert threads and all(name.startswith("ThreadPoolExecutor") for name in threads)


def test_local_wait_is_checked() -> None:
    assert check_local_wait(1, 5) == 1.0
    with pytest.raises(TypeError, match=r"local_wait is '0\.1'"):
        check_local_wait("0.1", 5)
    with pytest.raises(TypeError, match="local_wait is True"):
        check_local_wait(True, 5)
    with pytest.raises(ValueError, match="at most receive_timeout"):
        check_local_wait(6, 5)
    with pytest.raises(ValueError, match="local_wait is 0"):
        LocalRemoteChannelLayer(ChannelLayer(), ChannelLayer(), local_wait=0)


def test_local_layer_options_fill_gaps_and_force_the_slice() -> None:
    options = local_layer_options(
        {"capacity": 7, "receive_timeout": 9}, 0.25, capacity=100, expiry=60, time_fn=None
    )
    assert options == {"capacity": 7, "expiry": 60, "receive_timeout": 0.25}
    assert local_layer_options(None, 0.1) == {"receive_timeout": 0.1}


def test_close_closes_both_stores_that_can_close(layer: CountingSplit) -> None:
    layer.close()
    assert layer.local.closed == 1 and layer.remote.closed == 1
    LocalRemoteChannelLayer(ChannelLayer(receive_timeout=0.05), ChannelLayer()).close()
    assert "CountingSplit" in repr(layer)


def test_ipc_local_layer_says_which_extra_to_install_when_asgi_ipc_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "asgi_ipc", None)  # an import of it now fails
    with pytest.raises(
        ImportError, match=r"MyLocalLayer needs asgi-ipc: pip install 'my\[local\]'"
    ):
        ipc_local_layer("p", {}, "MyLocalLayer", "my[local]")


def test_ipc_local_layer_builds_an_ipc_layer_with_the_options() -> None:
    asgi_ipc = pytest.importorskip("asgi_ipc")
    from asgi_ipc.testing import remove_prefix, session_prefix

    prefix = session_prefix()
    layer = ipc_local_layer(prefix, {"capacity": 7}, "MyLocalLayer", "my[local]")
    try:
        assert isinstance(layer, asgi_ipc.IPCChannelLayer)
        assert layer.capacity == 7
    finally:
        layer.close()
        remove_prefix(prefix)
