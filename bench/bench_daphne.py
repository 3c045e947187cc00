"""Benchmark Daphne against Daphne 1.4.2 on the same layer and machine.

Scenarios (each runs the new stack and the legacy stack side by side):

* ``inmemory``: Daphne plus an in-process responder thread on the in-memory
  layer (new: ``asgiref.inmemory`` of this repo; legacy: asgiref 1.1.2's, whose
  receive cannot block, so its responder polls with a 0.5 ms sleep when idle).
  This isolates Daphne's own overhead. Load: ``wrk`` (requests/s and p99).
* ``redis`` / ``ipc``: Daphne plus a separate minimal worker process (a plain
  receive/send loop) on the Redis / IPC layer; ``wrk`` for HTTP, and a
  ``websockets`` client measuring sequential WebSocket echo round trips.

Rounds are interleaved (new, legacy, new, legacy, ...) against servers that
stay up for the whole scenario; every figure is the median over rounds and the
ratios compare medians of the same run.

    .venv/bin/python bench/bench_daphne.py [--quick] [--only inmemory,redis,ipc]

Writes ``bench/results/daphne.json``. Needs ``wrk`` (Debian package ``wrk``;
installed with apt-get when missing and running as root).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
NEW_PYTHON = ROOT / ".venv" / "bin" / "python"
sys.path.insert(0, str(BENCH))

RESPONSE = b"Hello, world! This is the benchmark response body."

MEMORY_NEW = r"""
import threading
from asgiref.inmemory import ChannelLayer

channel_layer = ChannelLayer(capacity=10000)
REPLY = {"status": 200, "headers": [[b"content-type", b"text/plain"]], "content": %(body)r}


def serve():
    while True:
        channel, message = channel_layer.receive(["http.request"], block=True)
        if channel is not None:
            channel_layer.send(message["reply_channel"], REPLY)


threading.Thread(target=serve, daemon=True).start()
"""

MEMORY_LEGACY = r"""
import threading, time
from asgiref.inmemory import ChannelLayer

channel_layer = ChannelLayer(capacity=10000)
REPLY = {"status": 200, "headers": [[b"content-type", b"text/plain"]], "content": %(body)r}


def serve():
    while True:
        channel, message = channel_layer.receive(["http.request"], block=False)
        if channel is None:
            time.sleep(0.0005)
            continue
        channel_layer.send(message["reply_channel"], REPLY)


threading.Thread(target=serve, daemon=True).start()
"""

# One module for both venvs: asgi_redis / asgi_ipc have the same import names there.
NETWORK_LAYER = r"""
import os

kind = os.environ["BENCH_LAYER"]
prefix = os.environ["BENCH_PREFIX"]
if kind == "redis":
    from asgi_redis import RedisChannelLayer
    channel_layer = RedisChannelLayer(hosts=[os.environ["BENCH_REDIS_URL"]], prefix=prefix + ":",
                                      capacity=10000)
else:
    from asgi_ipc import IPCChannelLayer
    channel_layer = IPCChannelLayer(prefix=prefix, capacity=10000)
"""

WORKER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from bench_network_layer import channel_layer as layer

REPLY = {"status": 200, "headers": [[b"content-type", b"text/plain"]], "content": %(body)r}
CHANNELS = ["http.request", "websocket.connect", "websocket.receive", "websocket.disconnect"]
while True:
    channel, message = layer.receive(CHANNELS, block=True)
    if channel is None:
        continue
    if channel == "http.request":
        layer.send(message["reply_channel"], REPLY)
    elif channel == "websocket.connect":
        layer.send(message["reply_channel"], {"accept": True})
    elif channel == "websocket.receive":
        layer.send(message["reply_channel"], {"text": message["text"]})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_wrk() -> str:
    """Return the wrk binary, installing Debian's package when possible."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("wrk is not installed; run `apt-get install wrk` (as root) and retry.")


class Stack:
    """A Daphne process (new or legacy), plus an optional worker process."""

    def __init__(
        self, name: str, python: Path, workdir: Path, module: str, env: dict[str, str], worker: bool
    ) -> None:
        self.name = name
        self.prefix = env.get("BENCH_PREFIX", "")
        self.port = free_port()
        environment = dict(os.environ, PYTHONPATH=str(workdir), **env)
        if name == "new":
            command = [str(python), "-m", "daphne"]
        else:
            command = [str(python.parent / "daphne")]
        command += ["-b", "127.0.0.1", "-p", str(self.port), "-v", "0", f"{module}:channel_layer"]
        self.processes = [
            subprocess.Popen(
                command,
                cwd=workdir,
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        ]
        if worker:
            self.processes.append(
                subprocess.Popen(
                    [str(python), str(workdir / "bench_worker.py"), str(workdir)],
                    cwd=workdir,
                    env=environment,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=5) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{self.name} stack did not start on port {self.port}")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def run_wrk(wrk: str, port: int, seconds: int, connections: int) -> dict[str, float]:
    """Run wrk; return requests/s, p50 and p99 latency in ms, and error count."""
    output = subprocess.run(
        [
            wrk,
            "-t",
            "1",
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]

    def percentile(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
        return float(match.group(1)) * _UNITS[match.group(2)] * 1000 if match else float("nan")

    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return {
        "rps": rps,
        "p50_ms": percentile("50"),
        "p99_ms": percentile("99"),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


async def _ws_echo(port: int, count: int) -> dict[str, float]:
    import websockets

    times: list[float] = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/echo", max_size=None) as ws:
        payload = "x" * 100
        for _ in range(10):
            await ws.send(payload)
            await ws.recv()
        start = time.perf_counter()
        for _ in range(count):
            sent = time.perf_counter()
            await ws.send(payload)
            await ws.recv()
            times.append(time.perf_counter() - sent)
        total = time.perf_counter() - start
    times.sort()
    return {
        "msgs_per_s": count / total,
        "p50_ms": times[len(times) // 2] * 1000,
        "p99_ms": times[int(len(times) * 0.99) - 1] * 1000,
    }


def ws_echo(port: int, count: int) -> dict[str, float]:
    return asyncio.run(asyncio.wait_for(_ws_echo(port, count), 300))


def median_of(rounds: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def compare(results: dict[str, list[dict[str, float]]], keys: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for key in keys:
        new, legacy = median_of(results["new"], key), median_of(results["legacy"], key)
        entry = {"new": round(new, 3), "legacy": round(legacy, 3)}
        if key.endswith("_ms"):
            entry["legacy_over_new"] = round(legacy / new, 2) if new else None
        else:
            entry["new_over_legacy"] = round(new / legacy, 2) if legacy else None
        summary[key] = entry
    return summary


def _remove_shared_memory(stack: Stack) -> None:
    """Delete the IPC layers' segments and semaphores a stopped stack left in /dev/shm."""
    if not stack.prefix:
        return
    for path in Path("/dev/shm").iterdir():
        if stack.prefix in path.name:
            path.unlink(missing_ok=True)


def run_scenario(
    name: str, stacks: dict[str, Stack], args: argparse.Namespace, wrk: str, ws: bool
) -> dict[str, Any]:
    http_rounds: dict[str, list[dict[str, float]]] = {"new": [], "legacy": []}
    ws_rounds: dict[str, list[dict[str, float]]] = {"new": [], "legacy": []}
    for index in range(args.rounds):
        for label in ("new", "legacy"):
            port = stacks[label].port
            run_wrk(wrk, port, 1, args.connections)  # warm-up
            http_rounds[label].append(run_wrk(wrk, port, args.seconds, args.connections))
            if ws:
                ws_rounds[label].append(ws_echo(port, args.ws_count))
            print(
                f"  {name} round {index + 1} {label}: {http_rounds[label][-1]}"
                + (f" ws {ws_rounds[label][-1]}" if ws else ""),
                flush=True,
            )
    result: dict[str, Any] = {
        "http": compare(http_rounds, ["rps", "p50_ms", "p99_ms"]),
        "raw_http": http_rounds,
    }
    if ws:
        result["websocket"] = compare(ws_rounds, ["msgs_per_s", "p50_ms", "p99_ms"])
        result["raw_websocket"] = ws_rounds
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (under ~2 minutes)")
    parser.add_argument(
        "--only", default="inmemory,redis,ipc", help="comma-separated scenarios to run"
    )
    args = parser.parse_args()
    args.rounds = 2 if args.quick else 3
    args.seconds = 4 if args.quick else 10
    args.connections = 20
    args.ws_count = 100 if args.quick else 500
    wrk = ensure_wrk()

    from _peers import ensure_legacy_venv

    legacy_python = ensure_legacy_venv()
    pythons = {"new": NEW_PYTHON, "legacy": legacy_python}
    redis_url = os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")
    report: dict[str, Any] = {
        "benchmark": "daphne",
        "quick": args.quick,
        "rounds": args.rounds,
        "settings": {
            "wrk_seconds": args.seconds,
            "wrk_connections": args.connections,
            "ws_messages": args.ws_count,
        },
        "results": {},
        "skipped": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-daphne-") as tmp:
        workdir = Path(tmp)
        (workdir / "bench_mem_new.py").write_text(MEMORY_NEW % {"body": RESPONSE})
        (workdir / "bench_mem_legacy.py").write_text(MEMORY_LEGACY % {"body": RESPONSE})
        (workdir / "bench_network_layer.py").write_text(NETWORK_LAYER)
        (workdir / "bench_worker.py").write_text(WORKER % {"body": RESPONSE})
        for scenario in args.only.split(","):
            print(f"scenario {scenario}", flush=True)
            stacks: dict[str, Stack] = {}
            try:
                for label in ("new", "legacy"):
                    if scenario == "inmemory":
                        stacks[label] = Stack(
                            label, pythons[label], workdir, f"bench_mem_{label}", {}, worker=False
                        )
                    else:
                        env = {
                            "BENCH_LAYER": scenario,
                            "BENCH_REDIS_URL": redis_url,
                            "BENCH_PREFIX": f"bd{label[0]}{secrets.token_hex(3)}",
                        }
                        stacks[label] = Stack(
                            label, pythons[label], workdir, "bench_network_layer", env, worker=True
                        )
                report["results"][scenario] = run_scenario(
                    scenario, stacks, args, wrk, ws=scenario != "inmemory"
                )
            except (SystemExit, subprocess.CalledProcessError, OSError) as exc:
                print(f"  {scenario} skipped: {exc}", flush=True)
                report["skipped"][scenario] = str(exc)
            finally:
                for stack in stacks.values():
                    stack.stop()
                    _remove_shared_memory(stack)
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / "daphne.json"
    if args.only != parser.get_default("only") and target.exists():
        # A partial run updates its scenarios and keeps the others' last figures.
        previous = json.loads(target.read_text())
        for scenario, result in previous.get("results", {}).items():
            report["results"].setdefault(scenario, result)
    target.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(f"{'scenario':<10} {'metric':<16} {'new':>10} {'legacy':>10} {'ratio':>8}")
    for scenario, result in report["results"].items():
        for part in ("http", "websocket"):
            for key, entry in result.get(part, {}).items():
                ratio = entry.get("new_over_legacy") or entry.get("legacy_over_new")
                print(
                    f"{scenario:<10} {part + '.' + key:<16} {entry['new']:>10} "
                    f"{entry['legacy']:>10} {ratio!s:>8}"
                )
    print("ratio: new/legacy for throughput, legacy/new for latency (higher is better)")


if __name__ == "__main__":
    main()
