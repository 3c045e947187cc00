"""Benchmark the RabbitMQ layer beside this project's Redis layer, in the same run.

Three figures per layer, measured in interleaved rounds (A B A B ...) and
reported as the median of the rounds, with the RabbitMQ/Redis ratio:

* throughput: one thread sends N messages to a channel, then drains them
  (messages per second over send + receive);
* round trip: a second process, with its own layer on the same namespace, echoes
  each message from ``ping`` back to a process-specific ``pong!`` channel; p50
  and p99 of send-to-reply time;
* fan-out: ``send_group`` to a 1,000-member group of process-specific channels
  (one reader prefix, as Daphne uses), timed until every member's copy is read.

Each round also times the throughput loop and the same process-to-process round
trip in bare pika (``--no-floor`` skips them), with no layer: publishes with
confirms and ``basic.get`` for the throughput, long-lived consumers (prefetch one,
ack on delivery) for the round trip, on the same broker. That is the fastest a layer on pika's
``BlockingConnection`` could go, so it shows how much of the gap to Redis is
the layer's and how much is pika's and the broker's.

    .venv/bin/python bench/bench_rabbitmq.py [--quick] [--no-floor]

Writes ``bench/results/rabbitmq.json``. The Redis layer is skipped (and said
so) when ``asgi_redis.RedisChannelLayer`` does not import or its server does
not answer.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import string
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
RABBITMQ_URL = os.environ.get("ASGI_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5673/%2F")
REDIS_URL = os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")
PAYLOAD = {"text": "x" * 100, "reply_channel": "bench.reply!abc", "n": 0}


def _token() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=8))


_CONFIG: dict[str, Any] = {"expiry": 60, "capacity": 5000, "receive_timeout": 10}


def build_layer(kind: str, prefix: str) -> Any:
    """Return a ``kind`` ("rabbitmq" or "redis") layer on ``prefix`` (both ends of a round trip)."""
    if kind == "rabbitmq":
        from asgi_rabbitmq import RabbitmqChannelLayer

        return RabbitmqChannelLayer(RABBITMQ_URL, prefix=prefix, **_CONFIG)
    from asgi_redis import RedisChannelLayer

    return RedisChannelLayer(REDIS_URL, prefix=prefix, **_CONFIG)


class Subject:
    """One layer under test, with a unique namespace and a clean-up."""

    def __init__(self, kind: str, prefix: str, cleanup: Callable[[Any], None]) -> None:
        self.name = kind
        self.prefix = prefix
        self.layer = build_layer(kind, prefix)
        self._cleanup = cleanup

    def close(self) -> None:
        self._cleanup(self.layer)


def make_subjects() -> tuple[list[Subject], list[str]]:
    """Return the layers to compare, and notes about any that were skipped."""
    from asgi_rabbitmq.testing import delete_namespace

    subjects = [
        Subject(
            "rabbitmq",
            f"bench.{_token()}",
            lambda layer: (delete_namespace(layer), layer.close()),
        )
    ]
    notes: list[str] = []
    try:
        redis_subject = Subject("redis", f"bench-{_token()}:", lambda layer: layer.flush())
        redis_subject.layer.send("bench.probe", {"n": 1})
        redis_subject.layer.receive(["bench.probe"])
    except Exception as exc:
        notes.append(f"redis layer skipped: {exc!r}")
    else:
        subjects.append(redis_subject)
    return subjects, notes


class EchoProcess:
    """This script run as ``echo KIND PREFIX PING COUNT`` in a child process, once it is ready."""

    def __init__(self, kind: str, prefix: str, ping: str, count: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "echo", kind, prefix, ping, str(count)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.process.kill()
            raise RuntimeError(f"the {kind} echo process did not start (it said {line!r})")

    def finish(self) -> None:
        """Wait for the echo to end (it stops after COUNT messages)."""
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def echo_main(kind: str, prefix: str, ping: str, count: int) -> int:
    """The child side of a round trip: echo ``count`` messages from ``ping`` to their replies."""
    if kind == "pika-floor":
        return pika_echo(ping, count)
    layer = build_layer(kind, prefix)
    layer.receive([ping])  # connected (and the queue declared) before the clock starts
    print("ready", flush=True)
    for _ in range(count):
        channel, message = layer.receive([ping], block=True)
        if channel is None:
            return 1
        layer.send(message["reply_channel"], message)
    return 0


def throughput(layer: Any, count: int) -> float:
    """Return messages per second for sending ``count`` messages and draining them."""
    channel = f"bench.tp.{_token()}"
    started = time.perf_counter()
    for index in range(count):
        layer.send(channel, {**PAYLOAD, "n": index})
    received = 0
    while received < count:
        got, _message = layer.receive([channel], block=True)
        if got is None:
            raise RuntimeError(f"throughput: only {received} of {count} messages arrived")
        received += 1
    return count / (time.perf_counter() - started)


def round_trip(layer: Any, kind: str, prefix: str, count: int) -> list[float]:
    """Return ``count`` ping-to-pong times in milliseconds through an echo process."""
    ping = f"bench.ping.{_token()}"
    pong = f"bench.pong.{_token()}!"
    echo = EchoProcess(kind, prefix, ping, count)
    times = []
    try:
        for index in range(count):
            started = time.perf_counter()
            layer.send(ping, {**PAYLOAD, "reply_channel": pong + "c", "n": index})
            channel, _message = layer.receive([pong], block=True)
            if channel is None:
                raise RuntimeError("round trip: the echo did not come back")
            times.append((time.perf_counter() - started) * 1000)
    finally:
        echo.finish()
    return times


def fan_out(layer: Any, members: int, prefix: str) -> float:
    """Return seconds from send_group to the last of ``members`` copies being read."""
    group = f"bench-fan-{prefix}"
    reader = f"bench.fan.{prefix}!"
    started = time.perf_counter()
    layer.send_group(group, PAYLOAD)
    seen = 0
    while seen < members:
        channel, _message = layer.receive([reader], block=True)
        if channel is None:
            raise RuntimeError(f"fan-out: only {seen} of {members} copies arrived")
        seen += 1
    return time.perf_counter() - started


def _pika_connect() -> Any:
    import pika
    from asgi_rabbitmq._wire import streamline

    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    streamline(connection)  # the layer's write path, so only the consuming differs
    return connection


def _floor_queues(ping: str) -> tuple[str, str]:
    return ping, ping.replace(".ping.", ".pong.")


def pika_echo(ping: str, count: int) -> int:
    """The child side of the bare-pika round trip: a long-lived consumer on ``ping``."""
    ping, pong = _floor_queues(ping)
    connection = _pika_connect()
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_qos(prefetch_count=1)
    echoed = [0]

    def on_ping(_ch: Any, method: Any, _props: Any, body: bytes) -> None:
        channel.basic_ack(method.delivery_tag)
        channel.basic_publish("", pong, body, mandatory=True)
        echoed[0] += 1

    channel.basic_consume(ping, on_ping)
    print("ready", flush=True)
    deadline = time.monotonic() + 120
    while echoed[0] < count and time.monotonic() < deadline:
        connection.process_data_events(time_limit=1)
    connection.close()
    return 0 if echoed[0] == count else 1


def pika_throughput(count: int) -> float:
    """Return messages per second for the throughput loop in bare pika (see --no-floor).

    The layer's operations with nothing around them: each send a publish with its
    confirm, each receive one ``basic.get``, on one queue and the layer's write path.
    """
    queue = f"bench.floor.tp.{_token()}"
    connection = _pika_connect()
    try:
        sender = connection.channel()
        sender.confirm_delivery()
        sender.queue_declare(queue, arguments={"x-expires": 60_000})
        reader = connection.channel()
        body = json.dumps(PAYLOAD).encode()
        started = time.perf_counter()
        for _ in range(count):
            sender.basic_publish("", queue, body, mandatory=True)
        received = 0
        while received < count:
            method, _props, _body = reader.basic_get(queue, auto_ack=True)
            if method is None:
                raise RuntimeError(f"pika floor: only {received} of {count} messages arrived")
            received += 1
        rate = count / (time.perf_counter() - started)
        sender.queue_delete(queue)
    finally:
        connection.close()
    return rate


def pika_round_trip(count: int) -> list[float]:
    """Return ``count`` ping-to-pong times in milliseconds in bare pika (see --no-floor)."""
    ping, pong = _floor_queues(f"bench.floor.ping.{_token()}")
    main = _pika_connect()
    setup = main.channel()
    for queue in (ping, pong):
        # Deleted once their consumers go, or after a minute if the run breaks first.
        setup.queue_declare(queue, auto_delete=True, arguments={"x-expires": 60_000})
    sender = main.channel()
    sender.confirm_delivery()
    reader = main.channel()
    reader.basic_qos(prefetch_count=1)
    replies: list[bytes] = []

    def on_pong(_ch: Any, method: Any, _props: Any, body: bytes) -> None:
        reader.basic_ack(method.delivery_tag)
        replies.append(body)

    reader.basic_consume(pong, on_pong)
    echo = EchoProcess("pika-floor", "", ping, count)
    body = json.dumps(PAYLOAD).encode()
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            sender.basic_publish("", ping, body, mandatory=True)
            while not replies:
                main.process_data_events(time_limit=1)
                if time.perf_counter() - started > 30:
                    raise RuntimeError("pika floor: the echo did not come back")
            replies.clear()
            times.append((time.perf_counter() - started) * 1000)
    finally:
        echo.finish()
        main.close()  # the auto-delete queues go with their consumers
    return times


def percentile(values: list[float], fraction: float) -> float:
    """Return the ``fraction`` percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    """Run the rounds, print the table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages and rounds")
    parser.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="skip timing throughput and round trip in bare pika (no layer), which run by default",
    )
    args = parser.parse_args()
    rounds = 3 if args.quick else 9
    count = 500 if args.quick else 2000
    pings = 200 if args.quick else 1000
    members = 1000

    subjects, notes = make_subjects()
    figures: dict[str, dict[str, list[float]]] = {
        s.name: {"throughput": [], "rtt_p50": [], "rtt_p99": [], "fanout": []} for s in subjects
    }
    try:
        fan_prefix = _token()
        for subject in subjects:
            for index in range(members):
                subject.layer.group_add(
                    f"bench-fan-{fan_prefix}", f"bench.fan.{fan_prefix}!m{index}"
                )
        for round_index in range(rounds):
            order = subjects if round_index % 2 == 0 else list(reversed(subjects))
            for subject in order:
                layer = subject.layer
                figures[subject.name]["throughput"].append(throughput(layer, count))
                times = round_trip(layer, subject.name, subject.prefix, pings)
                figures[subject.name]["rtt_p50"].append(percentile(times, 0.50))
                figures[subject.name]["rtt_p99"].append(percentile(times, 0.99))
                figures[subject.name]["fanout"].append(fan_out(layer, members, fan_prefix))
            if args.floor:
                times = pika_round_trip(pings)
                floor = figures.setdefault(
                    "pika-floor", {"throughput": [], "rtt_p50": [], "rtt_p99": []}
                )
                floor["throughput"].append(pika_throughput(count))
                floor["rtt_p50"].append(percentile(times, 0.50))
                floor["rtt_p99"].append(percentile(times, 0.99))
    finally:
        for subject in subjects:
            subject.close()

    medians = {
        name: {metric: statistics.median(values) for metric, values in metrics.items()}
        for name, metrics in figures.items()
    }
    ratios: dict[str, float] = {}
    if "redis" in medians:
        rabbit, redis = medians["rabbitmq"], medians["redis"]
        ratios = {
            # How many times slower RabbitMQ is (>1 means slower); the goal is <= 2.
            "throughput": redis["throughput"] / rabbit["throughput"],
            "rtt_p50": rabbit["rtt_p50"] / redis["rtt_p50"],
            "rtt_p99": rabbit["rtt_p99"] / redis["rtt_p99"],
            "fanout": rabbit["fanout"] / redis["fanout"],
        }
    print(
        f"bench_rabbitmq: {rounds} interleaved rounds, median shown "
        f"({count} msgs throughput, {pings} round trips, {members}-member fan-out)"
    )
    print(f"{'layer':10} {'msgs/s':>10} {'rtt p50 ms':>11} {'rtt p99 ms':>11} {'fan-out ms':>11}")
    for name, values in medians.items():
        if name == "pika-floor":
            continue
        print(
            f"{name:10} {values['throughput']:10.0f} {values['rtt_p50']:11.2f} "
            f"{values['rtt_p99']:11.2f} {values['fanout'] * 1000:11.1f}"
        )
    if ratios:
        print(
            f"{'slowdown':10} {ratios['throughput']:9.2f}x {ratios['rtt_p50']:10.2f}x "
            f"{ratios['rtt_p99']:10.2f}x {ratios['fanout']:10.2f}x   (rabbitmq vs redis)"
        )
    # Not a target (report.py makes one of every slowdown): kept apart from them.
    floor_ratios: dict[str, float] = {}
    if "pika-floor" in medians:
        floor = medians["pika-floor"]
        line = (
            f"{'pika floor':10} {floor['throughput']:10.0f} {floor['rtt_p50']:11.2f} "
            f"{floor['rtt_p99']:11.2f}"
        )
        if "redis" in medians:
            redis_medians = medians["redis"]
            floor_ratios = {
                "throughput": redis_medians["throughput"] / floor["throughput"],
                "rtt_p50": floor["rtt_p50"] / redis_medians["rtt_p50"],
                "rtt_p99": floor["rtt_p99"] / redis_medians["rtt_p99"],
            }
            line += (
                f"   (bare pika, no layer: {floor_ratios['throughput']:.2f}x / "
                f"{floor_ratios['rtt_p50']:.2f}x / {floor_ratios['rtt_p99']:.2f}x redis)"
            )
        print(line)
    for note in notes:
        print("note:", note)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rabbitmq.json").write_text(
        json.dumps(
            {
                "rounds": rounds,
                "messages": count,
                "round_trips": pings,
                "members": members,
                "raw": figures,
                "median": medians,
                "slowdown_vs_redis": ratios,
                "pika_floor_vs_redis": floor_ratios,
                "notes": notes,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["echo"]:
        kind, prefix, ping, count = sys.argv[2:6]
        sys.exit(echo_main(kind, prefix, ping, int(count)))
    sys.exit(main())
