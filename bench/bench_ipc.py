"""Benchmark the IPC layer against the original asgi_ipc 1.4.2 and this project's Redis layer.

Every measurement runs in a fresh worker process (this project's venv for the
new layer and Redis, ``bench/peers/legacy`` for asgi_ipc 1.4.2 with its
documented msgpack shim). Rounds are interleaved (new, legacy, redis, new, ...)
and each figure is the median of the rounds; ratios compare medians of the
same run. Scenarios:

* pair: send one message then receive it, on an otherwise empty store (the
  median of ten batches, so that a batch hit by another process's time slice
  does not skew it);
* burst: send 100 messages to a channel, then receive the 100 (the default
  capacity), repeatedly;
* stream: one process sends a stream of messages to a channel of the default
  capacity (100), retrying after 0.5 ms on ``ChannelFull``, while a separate
  consumer process receives them; messages per second until the last is read
  (the legacy consumer polls, as 1.4.2 has no blocking receive);
* rtt: a separate echo process blocks on ``ping`` and answers on a
  process-specific ``pong!`` channel; p50/p99 of send-to-reply time. The
  legacy layer has no blocking receive, so both of its sides poll in a tight
  loop (its best case for latency);
* fanout: ``send_group`` to a 1,000-member group of separate channels, then
  read every copy;
* floor (reported with pair): the same pair loop over ``FloorLayer``, the least
  any Python layer must do per call (message checks, msgpack, a free futex lock,
  a one-slot buffer; no store, no journal, no crash recovery), to show how far
  the pair scenario can go at all;
* scaling: the pair cost on three prefixes holding 0, 1,000 and 10,000 messages
  in 100 other channels, measured in alternation (the legacy store is pre-filled
  through its own store API, as sending 10,000 messages through it takes minutes).

    .venv/bin/python bench/bench_ipc.py [--quick] [--rounds N] [--scenarios pair,stream]

Writes ``bench/results/ipc.json`` (not for a ``--scenarios`` subset).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH))

WORKER = r'''
import json, os, subprocess, sys, time

kind, scenario = sys.argv[1], sys.argv[2]
params = json.loads(sys.argv[3])
PAYLOAD = {"text": "x" * 100, "reply_channel": "bench.reply!abc", "n": 0}


class FloorLayer:
    """The least any layer in Python must do per call: no store, no journal.

    The spec's message checks, msgpack both ways, and the cheapest lock between
    processes (a POSIX semaphore, a futex: no system call when free) around a
    one-slot buffer in shared memory. Only meaningful for the pair scenario.
    """

    def __init__(self, prefix):
        import mmap, struct, msgpack, posix_ipc
        from asgiref.base_layer import BaseChannelLayer
        self.checks = BaseChannelLayer()
        self.packb, self.unpackb = msgpack.packb, msgpack.unpackb
        self.mm = mmap.mmap(-1, 1 << 20)
        self.u32 = struct.Struct("<I")
        self.name = "/" + prefix + "-floor"
        self.lock = posix_ipc.Semaphore(self.name, posix_ipc.O_CREX, initial_value=1)

    def send(self, channel, message):
        copied, _size = self.checks.check_message(message)
        payload = self.packb(copied, use_bin_type=True)
        self.lock.acquire()
        self.u32.pack_into(self.mm, 0, len(payload))
        self.mm[4 : 4 + len(payload)] = payload
        self.lock.release()

    def receive(self, channels):
        self.lock.acquire()
        size = self.u32.unpack_from(self.mm, 0)[0]
        payload = self.mm[4 : 4 + size]
        self.u32.pack_into(self.mm, 0, 0)
        self.lock.release()
        return channels[0], self.unpackb(payload, raw=False)


def make(prefix=None):
    prefix = prefix or params["prefix"]
    if kind == "floor":
        return FloorLayer(prefix)
    if kind == "redis":
        from asgi_redis import RedisChannelLayer
        return RedisChannelLayer(hosts=[params["redis_url"]], prefix=prefix + ":",
                                 stats_prefix=prefix + "-meta:",
                                 capacity=params.get("capacity", 100_000))
    from asgi_ipc import IPCChannelLayer
    return IPCChannelLayer(prefix=prefix, capacity=params.get("capacity", 100_000))


def cleanup(layer, prefix=None):
    if kind == "floor":
        layer.lock.unlink()
    elif kind == "redis":
        layer.flush()
    elif kind == "legacy":
        for store in (layer.message_store, layer.group_store):
            for thing in (store.memory, store.semaphore):
                try:
                    thing.unlink()
                except Exception:
                    pass
    else:
        layer.close()
        from asgi_ipc._segment import remove_prefix
        remove_prefix(prefix or params["prefix"])


def receive(layer, channels):
    if kind != "legacy":
        return layer.receive(channels, block=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # 1.4.2 ignores block=True: poll
        found = layer.receive(channels)
        if found[0] is not None:
            return found
    return None, None


def fill(layer, total):
    """Put ``total`` messages into 100 other channels."""
    per = total // 100
    if kind == "legacy":
        import msgpack
        body = msgpack.packb(PAYLOAD, use_bin_type=True)
        expires = time.time() + layer.expiry
        with layer.message_store.mutate_value() as value:
            for index in range(100):
                value.setdefault("other%d" % index, []).extend([(body, expires)] * per)
        return
    for index in range(100):
        for _ in range(per):
            layer.send("other%d" % index, PAYLOAD)


def pair_cost(layer, count):
    started = time.perf_counter()
    for _ in range(count):
        layer.send("pair", PAYLOAD)
        layer.receive(["pair"])
    return (time.perf_counter() - started) / count


def consume():
    layer = make()
    print("ready", flush=True)
    for _ in range(params["count"]):
        channel, message = receive(layer, ["stream"])
        assert message is not None, "the producer stopped"
    print("done", flush=True)


def echo():
    layer = make()
    print("ready", flush=True)
    while True:
        channel, message = receive(layer, ["ping"])
        if message is None or message.get("stop"):
            break
        layer.send(message["reply"], message)


def main():
    if scenario == "echo":
        return echo()
    if scenario == "consume":
        return consume()
    layer = make()
    result = {}
    try:
        if scenario == "pair":
            # Median of ten batches: a batch that another process's time slice
            # landed in does not skew the figure (same method for every layer).
            batch = max(1, params["count"] // 10)
            pair_cost(layer, 200)
            costs = sorted(pair_cost(layer, batch) for _ in range(10))
            result["msgs_per_s"] = 2 / (costs[4] + costs[5])
        elif scenario == "burst":
            rounds, size = params["rounds"], 100
            started = time.perf_counter()
            for _ in range(rounds):
                for _ in range(size):
                    layer.send("burst", PAYLOAD)
                for _ in range(size):
                    layer.receive(["burst"])
            result["msgs_per_s"] = rounds * size / (time.perf_counter() - started)
        elif scenario == "stream":
            child = subprocess.Popen(
                [sys.executable, __file__, kind, "consume", json.dumps(params)],
                stdout=subprocess.PIPE, text=True)
            try:
                assert child.stdout.readline().strip() == "ready"
                full = layer.ChannelFull
                started = time.perf_counter()
                for number in range(params["count"]):
                    while True:
                        try:
                            layer.send("stream", {"n": number, "text": PAYLOAD["text"]})
                            break
                        except full:
                            time.sleep(0.0005)
                assert child.stdout.readline().strip() == "done"
                result["msgs_per_s"] = params["count"] / (time.perf_counter() - started)
                child.wait(60)
            finally:
                if child.poll() is None:
                    child.kill()
        elif scenario == "rtt":
            child = subprocess.Popen(
                [sys.executable, __file__, kind, "echo", json.dumps(params)],
                stdout=subprocess.PIPE, text=True)
            try:
                assert child.stdout.readline().strip() == "ready"
                times = []
                for number in range(params["count"] + 50):
                    started = time.perf_counter()
                    layer.send("ping", {"n": number, "reply": "pong!x"})
                    channel, message = receive(layer, ["pong!"])
                    assert message["n"] == number
                    times.append(time.perf_counter() - started)
                times = sorted(times[50:])
                result["p50_us"] = times[len(times) // 2] * 1e6
                result["p99_us"] = times[int(len(times) * 0.99)] * 1e6
                layer.send("ping", {"stop": True})
                child.wait(60)
            finally:
                if child.poll() is None:
                    child.kill()
        elif scenario == "fanout":
            members = ["fan%d" % index for index in range(params["members"])]
            for name in members:
                layer.group_add("everyone", name)
            started = time.perf_counter()
            layer.send_group("everyone", PAYLOAD)
            sent = time.perf_counter()
            for name in members:
                channel, message = layer.receive([name])
                assert channel == name, (channel, name)
            done = time.perf_counter()
            result["send_group_ms"] = (sent - started) * 1e3
            result["total_ms"] = (done - started) * 1e3
        elif scenario == "scaling":
            # One layer (prefix) per fill level; measure them in alternation so that
            # the machine's load drifts over all levels alike.
            levels = {0: layer}
            for total in (1000, 10000):
                levels[total] = make(params["prefix"] + "-%d" % total)
                fill(levels[total], total)
            try:
                samples = {total: [] for total in levels}
                for _ in range(5):
                    for total, filled in levels.items():
                        count = params["count"] if kind != "legacy" or not total else 5
                        pair_cost(filled, 3)
                        samples[total].append(pair_cost(filled, count) * 1e6)
                for total, values in samples.items():
                    result["pair_us_%d" % total] = sorted(values)[len(values) // 2]
            finally:
                for total in (1000, 10000):
                    if total in levels:
                        cleanup(levels[total], params["prefix"] + "-%d" % total)
    finally:
        cleanup(layer)
    print(json.dumps(result))


main()
'''

SCENARIOS: dict[str, dict[str, Any]] = {
    "pair": {"count": 5000},
    "burst": {"rounds": 30},
    "stream": {"count": 5000, "capacity": 100},
    "rtt": {"count": 1000},
    "fanout": {"members": 1000},
    "scaling": {"count": 1000},
}
QUICK: dict[str, dict[str, Any]] = {
    "pair": {"count": 1000},
    "burst": {"rounds": 5},
    "stream": {"count": 2000, "capacity": 100},
    "rtt": {"count": 150},
    "fanout": {"members": 1000},
    "scaling": {"count": 300},
}
# Metric, and whether higher is better.
METRICS: dict[str, list[tuple[str, bool]]] = {
    "pair": [("msgs_per_s", True)],
    "burst": [("msgs_per_s", True)],
    "stream": [("msgs_per_s", True)],
    "rtt": [("p50_us", False), ("p99_us", False)],
    "fanout": [("send_group_ms", False), ("total_ms", False)],
    "scaling": [("pair_us_0", False), ("pair_us_1000", False), ("pair_us_10000", False)],
}


def redis_available(url: str) -> str | None:
    """Return why the Redis layer cannot be benchmarked, or None if it can."""
    probe = (
        "import sys\nfrom asgi_redis import RedisChannelLayer\n"
        "layer = RedisChannelLayer(hosts=[sys.argv[1]], prefix='ipc-bench-probe:')\n"
        "layer.send('probe', {'x': 1})\nassert layer.receive(['probe'])[1] == {'x': 1}\n"
        "layer.flush()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, url], capture_output=True, text=True, timeout=60
    )
    if result.returncode:
        return (result.stderr.strip().splitlines() or ["unknown error"])[-1]
    return None


def run_worker(python: str, worker: str, kind: str, scenario: str, params: dict[str, Any]) -> Any:
    """Run one measurement in a fresh process and return its JSON result."""
    params = {**params, "prefix": f"bench-{kind}-{secrets.token_hex(4)}"}
    result = subprocess.run(
        [python, worker, kind, scenario, json.dumps(params)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tempfile.gettempdir(),
    )
    if result.returncode:
        raise RuntimeError(f"{kind} {scenario} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _ratio(row: dict[str, Any], key: str) -> str:
    return f"{row[key]:.1f}x" if key in row else "-"


def _skip(kind: str, scenario: str, round_number: int, quick: bool) -> bool:
    """Return True for the slowest peer runs beyond the first round."""
    if not round_number:
        return False
    if kind == "redis" and scenario == "scaling":
        return True  # filling Redis with 10,000 messages takes a while
    return quick and kind == "legacy" and scenario == "fanout"  # ~20 s per legacy run


def main() -> int:
    """Run the rounds, print the table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (under ~2 minutes)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    parser.add_argument(
        "--scenarios", default=None, help="comma-separated subset, e.g. pair,stream"
    )
    args = parser.parse_args()
    from _peers import ensure_legacy_venv

    rounds = args.rounds or (3 if args.quick else 5)
    settings = QUICK if args.quick else SCENARIOS
    if args.scenarios:
        wanted = args.scenarios.split(",")
        unknown = sorted(set(wanted) - set(settings))
        if unknown:
            parser.error(f"unknown scenarios {unknown}; choose from {sorted(settings)}")
        settings = {name: settings[name] for name in wanted}
    redis_url = os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")
    subjects = {"new": sys.executable, "legacy": str(ensure_legacy_venv())}
    notes = []
    why = redis_available(redis_url)
    if why is None:
        subjects["redis"] = sys.executable
    else:
        notes.append(f"Redis layer skipped: {why}")
    subjects["floor"] = sys.executable  # pair only: see FloorLayer in WORKER
    samples: dict[str, dict[str, dict[str, list[float]]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        worker = str(Path(scratch, "ipc_bench_worker.py"))
        Path(worker).write_text(WORKER)
        for scenario, params in settings.items():
            extra = {"redis_url": redis_url}
            for round_number in range(rounds):
                for kind, python in subjects.items():
                    if _skip(kind, scenario, round_number, args.quick):
                        continue
                    if kind == "floor" and scenario != "pair":
                        continue
                    got = run_worker(python, worker, kind, scenario, {**params, **extra})
                    for metric, value in got.items():
                        samples.setdefault(scenario, {}).setdefault(kind, {}).setdefault(
                            metric, []
                        ).append(value)
            print(f"  measured {scenario}", file=sys.stderr)
    table: dict[str, Any] = {}
    print(f"\nIPC layer benchmark ({rounds} interleaved rounds, medians)")
    print(f"{'scenario/metric':28} {'new':>12} {'legacy 1.4.2':>14} {'redis':>12} "
          f"{'vs legacy':>10} {'vs redis':>10}")  # fmt: skip
    for scenario, metrics in METRICS.items():
        if scenario not in settings:
            continue
        for metric, higher in metrics:
            row: dict[str, Any] = {}
            for kind in subjects:
                values = samples.get(scenario, {}).get(kind, {}).get(metric)
                if values or kind != "floor":
                    row[kind] = statistics.median(values) if values else None
            for peer in ("legacy", "redis"):
                if row.get("new") and row.get(peer):
                    ratio = row["new"] / row[peer] if higher else row[peer] / row["new"]
                    row[f"speedup_vs_{peer}"] = round(ratio, 2)
            table[f"{scenario}.{metric}"] = row
            print(f"{scenario + '.' + metric:28} {_show(row.get('new')):>12} "
                  f"{_show(row.get('legacy')):>14} {_show(row.get('redis')):>12} "
                  f"{_ratio(row, 'speedup_vs_legacy'):>10} "
                  f"{_ratio(row, 'speedup_vs_redis'):>10}")  # fmt: skip
    pair = table.get("pair.msgs_per_s", {})
    if pair.get("floor") and pair.get("legacy"):
        pair["floor_vs_legacy"] = round(pair["floor"] / pair["legacy"], 2)
        print(
            f"pair floor (message checks + msgpack + a free futex lock, no store): "
            f"{pair['floor']:,.1f} msg/s = {pair['floor_vs_legacy']:.1f}x legacy; "
            f"10x legacy would need {10 * pair['legacy']:,.1f} msg/s."
        )
    for note in notes:
        print(note)
    print("Ratios are speed-ups of the new layer (higher is better for it).")
    if args.scenarios:
        return 0  # a partial run does not replace the recorded results
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ipc.json").write_text(
        json.dumps(
            {
                "benchmark": "ipc",
                "quick": args.quick,
                "rounds": rounds,
                "settings": settings,
                "results": table,
                "samples": samples,
                "notes": notes,
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
