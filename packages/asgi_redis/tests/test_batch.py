"""send_many: one packet per shard, per-message outcomes, script reload, shard failover."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from asgi_redis import RedisChannelLayer, RedisUnavailableError
from asgi_redis.testing import RedisServer

from .conftest import REDIS_URL, REDIS_URL_2


def _count_packets(layer: RedisChannelLayer) -> list[tuple[int, int]]:
    """Record (shard, number of commands) for every packet the layer sends from now on.

    The scripts are loaded into every shard first: on a fresh server the first use
    of a script costs one more packet (load, then resend), which is not what is counted.
    """
    for shard in range(layer._shards):
        for script in layer._scripts.values():
            layer._execute(shard, ("SCRIPT", "LOAD", script.source))
    packets: list[tuple[int, int]] = []
    original = layer._execute_many

    def counting(shard: int, commands: Any) -> list[Any]:
        packets.append((shard, len(commands)))
        return original(shard, commands)

    layer._execute_many = counting  # type: ignore[method-assign]
    return packets


def test_a_batch_for_one_shard_is_one_packet(
    make_layer: Callable[..., RedisChannelLayer],
) -> None:
    layer = make_layer()
    packets = _count_packets(layer)
    pairs = [(f"reply!{n % 3}", {"n": n}) for n in range(30)]
    assert layer.send_many(pairs) == [None] * 30
    assert packets == [(0, 30)]
    got = [layer.receive(["reply!"]) for _ in range(30)]
    assert [message["n"] for _channel, message in got] == list(range(30))
    assert [channel for channel, _message in got] == [f"reply!{n % 3}" for n in range(30)]


def test_a_sharded_batch_is_one_packet_per_shard(
    make_layer: Callable[..., RedisChannelLayer],
) -> None:
    layer = make_layer(shards=2)
    packets = _count_packets(layer)
    pairs = [(f"p{n}!x", {"n": n}) for n in range(40)]
    assert layer.send_many(pairs) == [None] * 40
    assert sorted(shard for shard, _count in packets) == [0, 1]
    assert sum(count for _shard, count in packets) == 40
    for n in range(40):
        assert layer.receive([f"p{n}!"]) == (f"p{n}!x", {"n": n})


def test_a_full_share_moves_to_the_other_shard_and_full_channels_report_channel_full(
    make_layer: Callable[..., RedisChannelLayer],
) -> None:
    layer = make_layer(shards=2, capacity=4)
    results = layer.send_many([("work", {"n": n}) for n in range(6)])
    assert results[:4] == [None] * 4
    assert all(isinstance(result, layer.ChannelFull) for result in results[4:])
    assert "'work'" in str(results[4])
    got = sorted(layer.receive(["work"])[1]["n"] for _ in range(4))
    assert got == [0, 1, 2, 3]
    assert layer.receive(["work"]) == (None, None)


def test_bad_pairs_fail_alone(make_layer: Callable[..., RedisChannelLayer]) -> None:
    layer = make_layer(message_size_limit=2048)
    results = layer.send_many(
        [
            ("ok", {"n": 1}),
            ("ok", {"big": "x" * 4096}),
            ("ok", {"bad": object()}),
            ("no spaces allowed", {"n": 2}),
            ("ok", {"n": 3}),
        ]
    )
    assert results[0] is None and results[4] is None
    assert isinstance(results[1], layer.MessageTooLarge)
    assert isinstance(results[2], TypeError)
    assert isinstance(results[3], TypeError) and "no spaces allowed" in str(results[3])
    assert [layer.receive(["ok"])[1] for _ in range(2)] == [{"n": 1}, {"n": 3}]


def test_malformed_batches_raise_type_error(make_layer: Callable[..., RedisChannelLayer]) -> None:
    layer = make_layer()
    with pytest.raises(TypeError, match="item 1"):
        layer.send_many([("ok", {}), "not a pair"])  # type: ignore[list-item]


def test_scripts_missing_on_the_server_are_loaded_and_the_batch_resent(
    make_layer: Callable[..., RedisChannelLayer],
) -> None:
    layer = make_layer()
    layer.send("warm", {"n": 0})
    redis.Redis.from_url(REDIS_URL).script_flush()
    assert layer.send_many([("c!a", {"n": 1}), ("c!b", {"n": 2})]) == [None, None]
    assert layer.receive(["c!"]) == ("c!a", {"n": 1})
    assert layer.receive(["c!"]) == ("c!b", {"n": 2})


def test_an_unreachable_shard_is_reported_per_message_and_the_layer_recovers(
    own_redis: RedisServer, prefix: str
) -> None:
    layer = RedisChannelLayer(hosts=[own_redis.url], prefix=prefix, receive_timeout=2)
    assert layer.send_many([("c", {"n": 0})]) == [None]
    own_redis.stop()
    results = layer.send_many([("c", {"n": 1}), ("d", {"n": 2})])
    assert all(isinstance(result, RedisUnavailableError) for result in results)
    assert own_redis.url.split("/0")[0] in str(results[0])
    own_redis.start()
    results = layer.send_many([("c", {"n": 3})])
    if results != [None]:  # the first call after a restart may still see the old socket
        assert isinstance(results[0], RedisUnavailableError)
        assert layer.send_many([("c", {"n": 3})]) == [None]
    assert layer.receive(["c"], block=True) == ("c", {"n": 3})
    layer.close()


def test_send_many_and_receive_is_one_packet_on_one_shard(
    make_layer: Callable[..., RedisChannelLayer],
) -> None:
    layer = make_layer()
    layer.send("http.request", {"path": "/next"})
    packets = _count_packets(layer)
    results, received = layer.send_many_and_receive(
        [("daphne.response.ab!c", {"n": 1}), ("daphne.response.ab!d", {"n": 2})],
        ["http.request", "websocket.receive"],
        block=True,
    )
    assert results == [None, None]
    assert received == ("http.request", {"path": "/next"})
    assert packets == [(0, 4)]  # two SENDs, the BLPOP and the RECEIVE
    assert layer.receive(["daphne.response.ab!"]) == ("daphne.response.ab!c", {"n": 1})
    assert layer.receive(["daphne.response.ab!"]) == ("daphne.response.ab!d", {"n": 2})


def test_send_many_and_receive_waits_for_a_message_sent_later(
    make_layer: Callable[..., RedisChannelLayer],
) -> None:
    layer = make_layer(receive_timeout=5)
    other = make_layer()
    timer = threading.Timer(0.3, other.send, ("work", {"late": True}))
    timer.start()
    try:
        results, received = layer.send_many_and_receive([("out", {"n": 1})], ["work"], True)
    finally:
        timer.cancel()
    assert results == [None]
    assert received == ("work", {"late": True})
    assert layer.receive(["out"]) == ("out", {"n": 1})


def test_send_many_and_receive_times_out_with_nothing(
    make_layer: Callable[..., RedisChannelLayer],
) -> None:
    layer = make_layer(receive_timeout=0.3, capacity=1)
    layer.send("full", {"n": 0})
    results, received = layer.send_many_and_receive(
        [("full", {"n": 1}), ("fine", {"n": 2})], ["idle"], True
    )
    assert isinstance(results[0], layer.ChannelFull) and results[1] is None
    assert received == (None, None)


def test_send_many_and_receive_reloads_missing_scripts(
    make_layer: Callable[..., RedisChannelLayer],
) -> None:
    layer = make_layer()
    layer.send("work", {"n": 0})
    redis.Redis.from_url(REDIS_URL).script_flush()
    results, received = layer.send_many_and_receive([("out", {"n": 1})], ["work"], True)
    assert results == [None]
    assert received == ("work", {"n": 0})
    assert layer.receive(["out"]) == ("out", {"n": 1})


def test_send_many_and_receive_across_shards_falls_back_and_loses_nothing(
    make_layer: Callable[..., RedisChannelLayer],
) -> None:
    layer = make_layer(shards=2)
    pairs = [(f"reply{n}!x", {"n": n}) for n in range(20)]
    layer.send("work", {"job": 1})
    results, received = layer.send_many_and_receive(pairs, ["work"], True)
    assert results == [None] * 20
    assert received == ("work", {"job": 1})
    for n in range(20):
        assert layer.receive([f"reply{n}!"]) == (f"reply{n}!x", {"n": n})


def test_send_many_async_queues_reports_and_reloads_scripts(
    make_layer: Callable[..., RedisChannelLayer],
) -> None:
    layer = make_layer(shards=2, capacity=2)
    redis.Redis.from_url(REDIS_URL).script_flush()
    redis.Redis.from_url(REDIS_URL_2).script_flush()
    pairs = [(f"a{n}!x", {"n": n}) for n in range(10)]
    pairs += [("b?only", {"n": 10}), ("b?only", {"n": 11}), ("b?only", {"n": 12})]
    pairs.append(("bad name", {"n": 13}))

    results = asyncio.run(layer.send_many_async(pairs))

    assert results[:12] == [None] * 12
    assert isinstance(results[12], layer.ChannelFull)
    assert isinstance(results[13], TypeError)
    for n in range(10):
        assert layer.receive([f"a{n}!"]) == (f"a{n}!x", {"n": n})
    assert [layer.receive(["b?only"])[1] for _ in range(2)] == [{"n": 10}, {"n": 11}]


def test_send_many_async_reports_an_unreachable_server_per_message(
    own_redis: RedisServer, prefix: str
) -> None:
    layer = RedisChannelLayer(hosts=[own_redis.url], prefix=prefix, receive_timeout=2)

    async def batch(n: int) -> list[BaseException | None]:
        return await layer.send_many_async([("c", {"n": n}), ("d", {"n": n})])

    assert asyncio.run(batch(0)) == [None, None]
    own_redis.stop()
    results = asyncio.run(batch(1))
    assert all(isinstance(result, RedisUnavailableError) for result in results)
    own_redis.start()
    assert asyncio.run(batch(2)) == [None, None]
    # The restarted server keeps no data, so only the batch sent after it is there.
    assert layer.receive(["c"]) == ("c", {"n": 2})
    assert layer.receive(["d"]) == ("d", {"n": 2})
    layer.close()


def test_send_many_async_does_not_wait_behind_a_blocked_receive_async(
    make_layer: Callable[..., RedisChannelLayer],
) -> None:
    layer = make_layer(receive_timeout=5)

    async def main() -> tuple[float, object]:
        waiting = asyncio.ensure_future(layer.receive_async(["idle!"]))
        await asyncio.sleep(0.2)  # the receive's BLPOP is now blocking on the server
        started = time.monotonic()
        results = await layer.send_many_async([("idle!x", {"n": 1})])
        took = time.monotonic() - started
        assert results == [None]
        return took, await waiting

    took, received = asyncio.run(main())
    assert took < 2  # not behind the BLPOP, which would take the 5 s receive_timeout
    assert received == ("idle!x", {"n": 1})
