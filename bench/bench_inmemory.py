"""Benchmark the in-memory layer against the original asgiref 1.1.2 in-memory layer.

Every measurement runs in a fresh worker process: this project's venv for the
new layer, ``bench/peers/legacy`` for asgiref 1.1.2. Rounds are interleaved
(new, legacy, new, legacy, ...) and each figure is the median of the rounds;
ratios compare medians of the same run. Scenarios:

* throughput: send 10 messages, receive the 10 (fits the 1.x default capacity
  of 10), repeatedly; messages/s for a 100 B and a 100 KB payload;
* blocking wake-up: thread B waits for a message with ``receive(block=True)``;
  thread A sends one; p50/p99 of the time from A's send to B's return. The
  1.x layer ignores ``block`` and returns at once, so B does what the 1.x
  worker did: ``receive(block=True)`` and ``time.sleep(0.01)`` when empty;
* async wake-up: the same with B awaiting ``receive_async`` in an asyncio loop.
  The 1.x layer has no ``receive_async``; B does what Daphne 1.x did without
  it: a non-blocking receive, then a 50 ms pause when empty.

    .venv/bin/python bench/bench_inmemory.py [--quick]

Writes ``bench/results/inmemory.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH))

WORKER = r"""
import asyncio, json, random, sys, threading, time

kind, scenario = sys.argv[1], sys.argv[2]
params = json.loads(sys.argv[3])
from asgiref.inmemory import ChannelLayer

layer = ChannelLayer(capacity=100)


def throughput(size):
    payload = {"body": b"x" * size, "more_body": False}
    batch, rounds = 10, params["rounds"]
    channel = "bench.throughput"
    start = time.perf_counter()
    for _ in range(rounds):
        for _ in range(batch):
            layer.send(channel, payload)
        for _ in range(batch):
            got, _message = layer.receive([channel], block=False)
            if got is None:
                raise RuntimeError("message missing")
    elapsed = time.perf_counter() - start
    return {"messages_per_second": batch * rounds / elapsed}


def blocking_receive(channel):
    while True:
        got, message = layer.receive([channel], block=True)
        if got is not None:
            return message
        if kind == "legacy":
            time.sleep(0.01)  # the 1.x worker's idle pause


async def async_receive(channel):
    while True:
        if kind == "new":
            got, message = await layer.receive_async([channel])
        else:
            got, message = layer.receive([channel], block=False)
        if got is not None:
            return message
        if kind == "legacy":
            await asyncio.sleep(0.05)  # Daphne 1.x's idle pause


def wakeup(mode):
    samples, latencies = params["samples"], []
    channel = "bench.wakeup"
    ready, done = threading.Event(), threading.Event()

    def reader():
        if mode == "async":
            async def main():
                for _ in range(samples):
                    ready.set()
                    message = await async_receive(channel)
                    latencies.append(time.perf_counter() - message["t"])
                    done.set()
            asyncio.run(main())
        else:
            for _ in range(samples):
                ready.set()
                message = blocking_receive(channel)
                latencies.append(time.perf_counter() - message["t"])
                done.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    rng = random.Random(7)
    for _ in range(samples):
        ready.wait(30)
        ready.clear()
        # Let the reader settle into its wait (or its idle pause) first.
        time.sleep(rng.uniform(0.002, 0.012))
        done.clear()
        layer.send(channel, {"t": time.perf_counter()})
        if not done.wait(30):
            raise RuntimeError("reader did not receive")
    thread.join(30)
    latencies.sort()
    return {
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


if scenario == "throughput_100b":
    result = throughput(100)
elif scenario == "throughput_100kb":
    result = throughput(100_000)
elif scenario == "wakeup_blocking":
    result = wakeup("blocking")
else:
    result = wakeup("async")
print(json.dumps(result))
"""

SCENARIOS = {
    "throughput_100b": ("messages_per_second", "send+receive, 100 B", "msg/s", True),
    "throughput_100kb": ("messages_per_second", "send+receive, 100 KB", "msg/s", True),
    "wakeup_blocking": (("p50_ms", "p99_ms"), "blocking receive wake-up", "ms", False),
    "wakeup_async": (("p50_ms", "p99_ms"), "receive_async wake-up", "ms", False),
}


def run_worker(python: Path, script: Path, kind: str, scenario: str, params: dict[str, Any]) -> Any:
    completed = subprocess.run(
        [str(python), str(script), kind, scenario, json.dumps(params)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tempfile.gettempdir(),
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{kind} {scenario} worker failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and samples")
    args = parser.parse_args()
    from _peers import ensure_legacy_venv

    pythons = {"new": ROOT / ".venv" / "bin" / "python", "legacy": ensure_legacy_venv()}
    rounds = 3 if args.quick else 5
    params_for = {
        "throughput_100b": {"rounds": 2000 if args.quick else 5000},
        "throughput_100kb": {"rounds": 200 if args.quick else 500},
        "wakeup_blocking": {"samples": 150 if args.quick else 400},
        "wakeup_async": {"samples": 100 if args.quick else 300},
    }
    raw: dict[str, dict[str, list[dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "inmemory_worker.py")
        script.write_text(WORKER)
        for scenario in SCENARIOS:
            raw[scenario] = {"new": [], "legacy": []}
            for _ in range(rounds):
                for kind in ("new", "legacy"):
                    result = run_worker(pythons[kind], script, kind, scenario, params_for[scenario])
                    raw[scenario][kind].append(result)

    summary: dict[str, Any] = {}
    print(f"In-memory layer vs asgiref 1.1.2 (median of {rounds} interleaved rounds)")
    print(f"{'scenario':<34}{'new':>12}{'1.1.2':>12}{'ratio':>12}")
    for scenario, (keys, label, unit, higher_better) in SCENARIOS.items():
        for key in (keys,) if isinstance(keys, str) else keys:
            new = statistics.median(r[key] for r in raw[scenario]["new"])
            old = statistics.median(r[key] for r in raw[scenario]["legacy"])
            ratio = new / old if higher_better else old / new
            name = f"{label} {key.split('_')[0] if not higher_better else ''}".strip()
            summary[f"{scenario}.{key}"] = {
                "new": new,
                "legacy": old,
                "speedup": ratio,
                "unit": unit,
            }
            print(f"{name:<34}{new:>12.4g}{old:>12.4g}{ratio:>11.1f}x  ({unit})")
    print("ratio > 1 means the new layer is better (more msg/s, or lower latency).")
    RESULTS.mkdir(exist_ok=True)
    payload = {"rounds": rounds, "quick": args.quick, "results": summary, "raw": raw}
    (RESULTS / "inmemory.json").write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
