"""Send, receive, capacity, sizes, names, flush and statistics on one prefix."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from asgi_ipc import IPCChannelLayer
from asgi_ipc._inspect import verify
from asgi_ipc._store import _QUEUE, E_QUEUE, KIND_CHANNEL

from .conftest import FakeClock


def assert_consistent(layer: IPCChannelLayer) -> None:
    with layer._lock:
        assert verify(layer._store) == []


def test_send_then_receive_returns_the_message(layer: IPCChannelLayer) -> None:
    layer.send("orders", {"text": "hi", "data": b"\x00\xff", "n": 2**63 - 1, "f": 1.5})
    assert layer.receive(["orders"]) == (
        "orders",
        {"text": "hi", "data": b"\x00\xff", "n": 2**63 - 1, "f": 1.5},
    )
    assert layer.receive(["orders"]) == (None, None)
    assert_consistent(layer)


def test_bytes_and_str_stay_distinct_and_tuples_become_lists(layer: IPCChannelLayer) -> None:
    layer.send("c", {"a": "x", "b": b"x", "t": (1, [2, {"k": None}]), "yes": True})
    _channel, message = layer.receive(["c"])
    assert message == {"a": "x", "b": b"x", "t": [1, [2, {"k": None}]], "yes": True}
    assert type(message["a"]) is str and type(message["b"]) is bytes


def test_messages_keep_fifo_order_per_channel(layer: IPCChannelLayer) -> None:
    for number in range(50):
        layer.send("q?abc", {"n": number})
    assert [layer.receive(["q?abc"])[1]["n"] for _ in range(50)] == list(range(50))


def test_process_specific_channels_share_one_queue_in_send_order(layer: IPCChannelLayer) -> None:
    layer.send("daphne.response.X!a", {"n": 1})
    layer.send("daphne.response.X!b", {"n": 2})
    assert layer.receive(["daphne.response.X!"]) == ("daphne.response.X!a", {"n": 1})
    assert layer.receive(["daphne.response.X!"]) == ("daphne.response.X!b", {"n": 2})


def test_receive_on_full_process_specific_name_raises_type_error(layer: IPCChannelLayer) -> None:
    with pytest.raises(TypeError, match="prefix"):
        layer.receive(["reply!abc"])


def test_bad_names_and_messages_raise_type_error(layer: IPCChannelLayer) -> None:
    with pytest.raises(TypeError):
        layer.send("bad name", {})
    with pytest.raises(TypeError):
        layer.send("ok", {1: "non-str key"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        layer.send("ok", {"set": {1}})
    with pytest.raises(TypeError):
        layer.group_add("bad?group", "ok")


def test_receive_is_fair_across_channels(layer: IPCChannelLayer) -> None:
    for number in range(10):
        layer.send("busy", {"n": number})
    layer.send("quiet", {"n": 0})
    seen = [layer.receive(["busy", "quiet"])[0] for _ in range(3)]
    assert "quiet" in seen


def test_full_channel_raises_channel_full(make_layer: Callable[..., IPCChannelLayer]) -> None:
    layer = make_layer(capacity=3, channel_capacity={"big*": 5, "reply!*": 2})
    for _ in range(3):
        layer.send("small", {})
    with pytest.raises(layer.ChannelFull, match="capacity"):
        layer.send("small", {})
    for _ in range(5):
        layer.send("bigger", {})
    with pytest.raises(layer.ChannelFull):
        layer.send("bigger", {})
    layer.send("reply!a", {})
    layer.send("reply!b", {})
    with pytest.raises(layer.ChannelFull):
        layer.send("reply!c", {})
    layer.receive(["small"])
    layer.send("small", {})
    assert layer.channel_statistics("small")["channel_full_count"] == 1


def test_expired_messages_do_not_count_against_capacity(
    make_layer: Callable[..., IPCChannelLayer], clock: FakeClock
) -> None:
    layer = make_layer(capacity=2, expiry=10, time_fn=clock)
    layer.send("c", {"n": 1})
    layer.send("c", {"n": 2})
    clock.advance(11)
    layer.send("c", {"n": 3})
    assert layer.receive(["c"]) == ("c", {"n": 3})
    assert layer.receive(["c"]) == (None, None)


def test_running_out_of_memory_raises_channel_full_not_an_mmap_error(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    layer = make_layer(message_memory=64 * 1024, capacity=10_000)
    blob = {"data": b"x" * 4000}
    with pytest.raises(layer.ChannelFull, match="message_memory"):
        for _ in range(100):
            layer.send("hog", blob)
    assert_consistent(layer)
    while layer.receive(["hog"])[0]:
        pass
    layer.send("hog", blob)
    assert layer.receive(["hog"])[1] == blob


def test_oversized_message_raises_message_too_large(layer: IPCChannelLayer) -> None:
    big = {"data": b"x" * (layer.message_size_limit + 1)}
    with pytest.raises(layer.MessageTooLarge):
        layer.send("c", big)
    assert layer.receive(["c"]) == (None, None)


def test_one_megabyte_message_round_trips(make_layer: Callable[..., IPCChannelLayer]) -> None:
    layer = make_layer(message_memory=8 << 20)
    message = {"body": b"\x01" * 1_000_000, "text": "é" * 1000}
    layer.send("http.request", message)
    assert layer.receive(["http.request"]) == ("http.request", message)
    assert_consistent(layer)


def test_new_channel_returns_unused_single_reader_names(layer: IPCChannelLayer) -> None:
    names = {layer.new_channel("reply?") for _ in range(20)}
    assert len(names) == 20
    assert all(name.startswith("reply?") for name in names)
    with pytest.raises(TypeError):
        layer.new_channel("reply!")


def test_flush_empties_messages_groups_and_counters(layer: IPCChannelLayer) -> None:
    layer.send("a", {})
    layer.group_add("g", "a")
    layer.flush()
    assert layer.receive(["a"]) == (None, None)
    assert layer.group_channels("g") == []
    assert layer.global_statistics()["messages_count"] == 0
    layer.send("a", {"after": True})
    assert layer.receive(["a"]) == ("a", {"after": True})
    assert_consistent(layer)


def test_statistics_count_messages_and_report_pending_age(
    layer: IPCChannelLayer, clock: FakeClock
) -> None:
    layer.send("s", {})
    layer.send("s", {})
    layer.send("t!x", {})
    clock.advance(2.5)
    stats = layer.channel_statistics("s")
    assert stats["messages_count"] == 2
    assert stats["messages_pending"] == 2
    assert stats["messages_max_age"] == pytest.approx(2.5)
    assert layer.channel_statistics("t!y")["messages_pending"] == 1
    total = layer.global_statistics()
    assert total["messages_count"] == 3
    assert total["messages_pending"] == 3
    assert layer.channel_statistics("never")["messages_count"] == 0


def test_two_prefixes_do_not_see_each_other(
    make_layer: Callable[..., IPCChannelLayer], prefix: str
) -> None:
    first = make_layer()
    other_prefix = prefix + "b"
    from asgi_ipc._segment import remove_prefix

    second = IPCChannelLayer(prefix=other_prefix, message_memory=1 << 20, group_memory=1 << 18)
    try:
        first.send("shared.name", {"from": "first"})
        first.group_add("g", "x")
        assert second.receive(["shared.name"]) == (None, None)
        assert second.group_channels("g") == []
        same = make_layer()
        assert same.receive(["shared.name"]) == ("shared.name", {"from": "first"})
    finally:
        second.close()
        remove_prefix(other_prefix)


def test_bad_options_raise_clear_errors(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        IPCChannelLayer(prefix="no spaces")
    with pytest.raises(ValueError, match="message_memory"):
        IPCChannelLayer(prefix=prefix, message_memory=10)
    with pytest.raises(ValueError, match="receive_timeout"):
        IPCChannelLayer(prefix=prefix, receive_timeout=0)


def test_many_channels_fill_and_compact_the_name_table(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    layer = make_layer()
    total = layer._store.layout.n_entries * 2
    for number in range(total):
        layer.send(f"reply?{number}", {})
        assert layer.receive([f"reply?{number}"]) == (f"reply?{number}", {})
    assert_consistent(layer)


def test_consistency_check_reports_corruption(layer: IPCChannelLayer) -> None:
    layer.send("q", {"n": 1})
    store = layer._store
    first_used = store.mm.find(b"\x01", store.map, store.map + store.n_blocks)
    store.mm[first_used] = 0  # the queued record's block now looks free
    with layer._lock:
        problems = verify(store)
    assert any("map" in problem for problem in problems)


def test_second_process_with_other_sizes_uses_the_existing_layout(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    first = make_layer(message_memory=1 << 20)
    second = make_layer(message_memory=64 << 20, group_memory=4 << 20)
    assert second._store.layout == first._store.layout
    assert second.message_size_limit == first.message_size_limit
    second.send("sized", {"data": b"x" * 100_000})
    assert first.receive(["sized"])[1] == {"data": b"x" * 100_000}


def test_segment_bigger_than_dev_shm_is_refused(prefix: str) -> None:
    from asgi_ipc._segment import SegmentError

    with pytest.raises(SegmentError, match="/dev/shm"):
        IPCChannelLayer(prefix=prefix, message_memory=1 << 50)


def _head_block(layer: IPCChannelLayer, channel: str) -> int:
    """Return the first data block of the oldest message queued on ``channel``."""
    store = layer._store
    with layer._lock:
        entry = store.find(KIND_CHANNEL, channel.encode())
        head, _tail, _count = _QUEUE.unpack_from(store.mm, store.entry_offset(entry) + E_QUEUE)
    return int(head) - 1


def test_freed_blocks_are_reused_first(layer: IPCChannelLayer) -> None:
    """A busy queue keeps reusing the lowest blocks instead of sweeping the segment."""
    for number in range(50):
        layer.send("busy", {"n": number})
        assert _head_block(layer, "busy") == 0
        assert layer.receive(["busy"]) == ("busy", {"n": number})
    layer.send("keep", {"n": 0})  # block 0
    layer.send("busy", {"n": 1})  # block 1
    layer.send("keep", {"n": 1})  # block 2
    assert layer.receive(["busy"]) == ("busy", {"n": 1})
    layer.send("busy", {"n": 2})
    assert _head_block(layer, "busy") == 1  # the gap left by the read message
    assert_consistent(layer)


def test_mixed_message_sizes_fill_gaps_and_keep_fifo_order(
    make_layer: Callable[..., IPCChannelLayer],
) -> None:
    """Records of several blocks skip gaps too small for them; nothing is lost."""
    layer = make_layer(capacity=10_000)
    sizes = [10, 700, 3000, 40, 1500, 5, 260]
    sent: dict[str, list[int]] = {"a": [], "b": []}
    number = 0
    for turn in range(300):
        channel = "ab"[turn % 2]
        layer.send(channel, {"n": number, "pad": "x" * sizes[turn % len(sizes)]})
        sent[channel].append(number)
        number += 1
        if turn % 3 == 2:  # read one of every three, from alternating queues
            reader = "ba"[turn % 2]
            found = layer.receive([reader])
            assert found[1] is not None and found[1]["n"] == sent[reader].pop(0)
    assert_consistent(layer)
    for channel, expected in sent.items():
        got = []
        while (found := layer.receive([channel]))[0] is not None:
            got.append(found[1]["n"])
        assert got == expected
    with layer._lock:
        assert layer._store.blocks_used() == 0
    assert_consistent(layer)
