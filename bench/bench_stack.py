"""Benchmark the whole stack with real processes against the original and the modern stack.

Configurations (each a set of real processes serving ``bench/stack/benchproj``):

* ``new-redis`` / ``new-ipc`` / ``new-rabbitmq``: this project's ``daphne`` plus
  N ``manage.py runworker`` on asgi_redis / asgi_ipc / asgi_rabbitmq.
* ``new-redis-unix`` / ``legacy-redis-unix``: the same Redis server reached over
  its unix socket instead of TCP loopback (the usual one-machine deployment).
* ``new-inmemory``: this project's ``manage.py runserver`` (in-memory layer).
* ``legacy-redis`` / ``legacy-ipc`` / ``legacy-inmemory``: the original stack
  (channels 1.1.8, daphne 1.4.2, asgi_redis 1.4.3, asgi_ipc 1.4.2, asgiref 1.1.2,
  Django 2.2) from ``bench/peers/legacy``, same project, same process layout.
* ``modern``: channels 4 + daphne 4 + channels_redis 4 (one daphne process,
  consumers in-process) from ``bench/peers/modern``.
* ``gunicorn``: plain Django WSGI under gunicorn (N sync workers): the no-hop limit.

Per configuration and round: wrk on ``GET /hello`` (requests/s, p50/p90/p99),
WebSocket echo on several concurrent sockets (messages/s, round trip), and a
broadcast of one message to a group of 1,000 open WebSockets (time until the
last socket has it, and loss). Rounds are interleaved (every configuration once
per round, servers restarted each time) so machine drift cancels; figures are
medians over rounds and ratios compare medians of the same run.

    .venv/bin/python bench/bench_stack.py [--quick] [--only new-redis,legacy-redis,...]

``--quick``: Redis and IPC plus the three peers, short runs, 2 rounds. Writes
``bench/results/stack.json``; ``bench/report.py`` turns it into the report.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
NEW_BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(BENCH))

from _peers import ensure_legacy_venv, ensure_venv  # noqa: E402
from stack.procs import Deployment, StartupError, free_port, stop_all  # noqa: E402

from stack import cpu, load  # noqa: E402

MODERN_REQUIREMENTS = [
    "channels==4.3.2",
    "daphne==4.2.3",
    "channels-redis==4.3.0",
    "Django==5.2.8",
    "redis==5.2.1",
    "gunicorn==23.0.0",
]
QUICK_CONFIGS = [
    "new-redis",
    "legacy-redis",
    "new-redis-unix",
    "legacy-redis-unix",
    "new-ipc",
    "legacy-ipc",
    "modern",
    "gunicorn",
]
FULL_CONFIGS = [*QUICK_CONFIGS, "new-rabbitmq", "new-inmemory", "legacy-inmemory"]
REDIS_DB = 9  # the tests use db 0; the layer benchmarks use others


def bench_redis_url() -> str:
    """Return the shared Redis server's URL, pointed at the benchmark's database."""
    base = urlsplit(os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0"))
    return urlunsplit((base.scheme, base.netloc, f"/{REDIS_DB}", "", ""))


def bench_redis_unix_url() -> str:
    """Return the same Redis server's unix-socket URL (``services.sh`` makes the socket)."""
    url = os.environ.get("ASGI_REDIS_UNIX_URL") or f"unix://{ROOT}/.state/redis-16379.sock"
    return f"unix://{urlsplit(url).path}?db={REDIS_DB}"


def build_deployment(
    name: str, bins: dict[str, Path], args: argparse.Namespace, logs: Path
) -> Deployment:
    """Return the (not yet started) processes of configuration ``name``."""
    port = free_port()
    prefix = f"bst{secrets.token_hex(4)}"
    env = {
        "BENCH_PREFIX": prefix,
        "BENCH_REDIS_URL": bench_redis_url(),
        "BENCH_RABBITMQ_URL": os.environ.get(
            "ASGI_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5673/%2F"
        ),
    }
    side, _, layer = name.partition("-")
    if layer == "redis-unix":
        layer = "redis"
        env["BENCH_REDIS_URL"] = bench_redis_unix_url()
    if name == "gunicorn":
        env["BENCH_LAYER"] = "wsgi"
        command = [
            str(bins["modern"] / "gunicorn"),
            "-w",
            str(args.workers),
            "-b",
            f"127.0.0.1:{port}",
        ]
        return Deployment(
            name,
            [[*command, "--log-level", "warning", "benchproj.wsgi:application"]],
            env,
            port,
            logs,
        )
    if name == "modern":
        env["BENCH_LAYER"] = "modern"
        command = [str(bins["modern"] / "daphne"), "-b", "127.0.0.1", "-p", str(port), "-v", "0"]
        return Deployment(name, [[*command, "benchproj.modern_asgi:application"]], env, port, logs)
    env["BENCH_LAYER"] = layer
    python = str(bins[side] / "python")
    if layer == "inmemory":
        command = [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "-v", "0"]
        return Deployment(name, [command], env, port, logs)
    daphne = [str(bins[side] / "daphne"), "-b", "127.0.0.1", "-p", str(port), "-v", "0"]
    commands = [[*daphne, "benchproj.asgi:channel_layer"]]
    commands += [[python, "manage.py", "runworker", "-v", "0"] for _ in range(args.workers)]
    return Deployment(name, commands, env, port, logs)


def cleanup_prefix(prefix: str) -> None:
    """Delete what a configuration left behind: Redis keys and shared-memory files."""
    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(bench_redis_url())
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        # Statistics live under the layer's stats_prefix ("asgi-meta:"), as in 1.x.
        keys += list(client.scan_iter(match=f"asgi-meta:{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        client.close()
    for path in glob.glob(f"/dev/shm/*{prefix}*"):
        with contextlib.suppress(OSError):
            os.unlink(path)


def broker_port(name: str) -> int | None:
    """Return the TCP port of the Redis or RabbitMQ server configuration ``name`` uses."""
    if name == "gunicorn" or name.endswith(("-ipc", "-inmemory")):
        return None
    if name.endswith("-rabbitmq"):
        url = os.environ.get("ASGI_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5673/%2F")
        return urlsplit(url).port or 5672
    # Redis over TCP or its unix socket: the same server, found by its TCP port.
    return urlsplit(bench_redis_url()).port or 6379


def cpu_meter(name: str, deployment: Deployment) -> cpu.CpuMeter | None:
    """Return a CPU meter over ``deployment``'s processes and broker (None off Linux)."""
    if not cpu.available():
        return None
    port = broker_port(name)
    broker = cpu.listener_pid(port) if port else None
    return cpu.CpuMeter([process.pid for process in deployment.processes], broker)


def measured(
    meter: cpu.CpuMeter | None,
    run: Callable[[], dict[str, float]],
    count: Callable[[dict[str, float]], float],
) -> dict[str, float]:
    """Run one load; add its CPU per request (``count`` of its figures) when metered."""
    before = meter.snapshot() if meter else None
    figures = run()
    if meter and before is not None:
        figures.update(meter.per_request(before, meter.snapshot(), count(figures)))
    return figures


def run_one(
    name: str, deployment: Deployment, args: argparse.Namespace, wrk: str
) -> dict[str, Any]:
    """Start a configuration, run the three loads against it, stop it; return the figures."""
    figures: dict[str, Any] = {}
    try:
        with deployment:
            port = deployment.port
            meter = cpu_meter(name, deployment)
            load.run_wrk(wrk, port, 1, args.connections)  # warm-up
            wrk_seconds = max(1, round(args.seconds))  # what run_wrk asks wrk for
            figures["http"] = measured(
                meter,
                lambda: load.run_wrk(wrk, port, args.seconds, args.connections),
                lambda http: http["rps"] * wrk_seconds,
            )
            if name != "gunicorn":
                figures["ws"] = measured(
                    meter,
                    lambda: load.ws_echo(port, args.ws_connections, args.ws_seconds),
                    lambda ws: ws["msgs_per_s"] * args.ws_seconds,
                )
                figures["broadcast"] = load.broadcast(port, args.members, args.broadcast_wait)
    finally:
        cleanup_prefix(deployment.env["BENCH_PREFIX"])
    return figures


def median_figures(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Return, per test and metric, the median over rounds (loss: the worst round)."""
    summary: dict[str, Any] = {}
    for test in ("http", "ws", "broadcast"):
        values = [r[test] for r in rounds if test in r]
        if not values:
            continue
        summary[test] = {}
        for key in values[0]:
            column = [float(v[key]) for v in values]
            worst = key in {"lost", "connect_failures", "errors", "non_2xx"}
            summary[test][key] = max(column) if worst else statistics.median(column)
    return summary


def ratio(a: float | None, b: float | None) -> float | None:
    """Return a / b, or None when either side is missing or zero."""
    if a is None or b is None or b == 0 or a != a or b != b:
        return None
    return round(a / b, 3)


def get(medians: dict[str, Any], config: str, test: str, key: str) -> float | None:
    """Return one median figure, or None when that configuration or test did not run."""
    return medians.get(config, {}).get(test, {}).get(key)


def compute_ratios(medians: dict[str, Any]) -> dict[str, float | None]:
    """Return the ratios of this project's figures to the peers' (higher is better)."""
    out: dict[str, float | None] = {}
    for layer in ("redis", "redis-unix", "ipc", "inmemory"):
        new, legacy = f"new-{layer}", f"legacy-{layer}"
        out[f"http_rps.{new}/{legacy}"] = ratio(
            get(medians, new, "http", "rps"), get(medians, legacy, "http", "rps")
        )
        out[f"http_p99.{legacy}/{new}"] = ratio(
            get(medians, legacy, "http", "p99_ms"), get(medians, new, "http", "p99_ms")
        )
        out[f"ws_msgs.{new}/{legacy}"] = ratio(
            get(medians, new, "ws", "msgs_per_s"), get(medians, legacy, "ws", "msgs_per_s")
        )
        out[f"broadcast_last.{legacy}/{new}"] = ratio(
            get(medians, legacy, "broadcast", "last_ms"), get(medians, new, "broadcast", "last_ms")
        )
    for new in ("new-redis", "new-redis-unix", "new-ipc", "new-rabbitmq", "new-inmemory"):
        out[f"http_rps.{new}/gunicorn"] = ratio(
            get(medians, new, "http", "rps"), get(medians, "gunicorn", "http", "rps")
        )
        out[f"http_rps.{new}/modern"] = ratio(
            get(medians, new, "http", "rps"), get(medians, "modern", "http", "rps")
        )
        out[f"ws_msgs.{new}/modern"] = ratio(
            get(medians, new, "ws", "msgs_per_s"), get(medians, "modern", "ws", "msgs_per_s")
        )
        out[f"broadcast_last.modern/{new}"] = ratio(
            get(medians, "modern", "broadcast", "last_ms"),
            get(medians, new, "broadcast", "last_ms"),
        )
    return {k: v for k, v in out.items() if v is not None}


def paired_ratios(raw: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Return, per pair of configurations, the median of the round-by-round ratios.

    Round i of A ran right next to round i of B, so each round's ratio cancels
    the machine's drift; this complements the ratio of medians.
    """
    pairs = [
        ("new-redis", "legacy-redis"),
        ("new-redis-unix", "legacy-redis-unix"),
        ("new-ipc", "legacy-ipc"),
        ("new-inmemory", "legacy-inmemory"),
    ]
    pairs += [
        ("new-redis", "gunicorn"),
        ("new-redis", "modern"),
        ("new-redis-unix", "gunicorn"),
        ("new-redis-unix", "modern"),
        ("new-ipc", "gunicorn"),
        ("new-ipc", "modern"),
    ]
    out: dict[str, float] = {}
    for a, b in pairs:
        for test, key in (("http", "rps"), ("ws", "msgs_per_s")):
            values = [
                ra[test][key] / rb[test][key]
                for ra, rb in zip(raw.get(a, []), raw.get(b, []), strict=False)
                if test in ra and test in rb and rb[test][key]
            ]
            if values:
                out[f"{test}.{a}/{b}"] = round(statistics.median(values), 3)
    return out


def compute_targets(
    medians: dict[str, Any], ratios: dict[str, float | None]
) -> list[dict[str, Any]]:
    """Return the issue's full-stack targets with the measured value and whether each is met."""
    targets: list[dict[str, Any]] = []

    def add(name: str, value: float | None, threshold: float, strict: bool = False) -> None:
        met = None if value is None else (value > threshold if strict else value >= threshold)
        targets.append({"target": name, "value": value, "threshold": threshold, "met": met})

    add(
        "HTTP Daphne+Redis >= 2x original stack requests/s",
        ratios.get("http_rps.new-redis/legacy-redis"),
        2.0,
    )
    add(
        "HTTP Daphne+Redis >= 70% of gunicorn requests/s",
        ratios.get("http_rps.new-redis/gunicorn"),
        0.7,
    )
    add(
        "WebSocket echo (Redis) >= 2x original stack",
        ratios.get("ws_msgs.new-redis/legacy-redis"),
        2.0,
    )
    add(
        "WebSocket echo (Redis) ahead of channels 4 + daphne 4",
        ratios.get("ws_msgs.new-redis/modern"),
        1.0,
        True,
    )
    # The same targets with Redis on its unix socket (one machine): context rows.
    add(
        "HTTP Daphne+Redis (unix socket) >= 70% of gunicorn requests/s",
        ratios.get("http_rps.new-redis-unix/gunicorn"),
        0.7,
    )
    add(
        "WebSocket echo (Redis, unix socket) >= 2x original stack (also on the socket)",
        ratios.get("ws_msgs.new-redis-unix/legacy-redis-unix"),
        2.0,
    )
    add(
        "WebSocket echo (Redis, unix socket) ahead of channels 4 + daphne 4",
        ratios.get("ws_msgs.new-redis-unix/modern"),
        1.0,
        True,
    )
    lost = get(medians, "new-redis", "broadcast", "lost")
    failed = get(medians, "new-redis", "broadcast", "connect_failures")
    worst = None if lost is None or failed is None else lost + failed
    targets.append(
        {
            "target": "Broadcast to 1,000 sockets (Redis) with no loss (worst round)",
            "value": worst,
            "threshold": 0,
            "met": None if worst is None else worst == 0,
        }
    )
    return targets


def print_table(
    medians: dict[str, Any], ratios: dict[str, float | None], targets: list[dict[str, Any]]
) -> None:
    """Print the medians, ratios and targets readably."""
    print(
        f"\n{'config':<16} {'req/s':>9} {'p50ms':>7} {'p99ms':>8} {'ws msg/s':>9} "
        f"{'ws p50':>7} {'bc last':>8} {'lost':>5}"
    )
    for config, figures in medians.items():
        h, w, b = figures.get("http", {}), figures.get("ws", {}), figures.get("broadcast", {})

        def fmt(value: Any, width: int) -> str:
            return f"{value:>{width}.1f}" if isinstance(value, float) else f"{'-':>{width}}"

        print(
            f"{config:<16} {fmt(h.get('rps'), 9)} {fmt(h.get('p50_ms'), 7)} "
            f"{fmt(h.get('p99_ms'), 8)} "
            f"{fmt(w.get('msgs_per_s'), 9)} {fmt(w.get('p50_ms'), 7)} {fmt(b.get('last_ms'), 8)} "
            f"{fmt(b.get('lost'), 5)}"
        )
    print("\nratios (higher is better):")
    for key, value in ratios.items():
        print(f"  {key:<44} {value}")
    print("\ntargets:")
    for target in targets:
        mark = {True: "MET", False: "MISSED", None: "not measured"}[target["met"]]
        print(
            f"  {mark:<12} {target['target']}: {target['value']} (threshold {target['threshold']})"
        )


def main() -> None:
    """Run the interleaved rounds and write bench/results/stack.json."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Redis + IPC + peers, short runs")
    parser.add_argument("--only", default="", help="comma-separated configurations to run")
    parser.add_argument("--rounds", type=int, default=0, help="override the number of rounds")
    parser.add_argument("--members", type=int, default=1000, help="broadcast group size")
    parser.add_argument("--workers", type=int, default=2, help="runworker / gunicorn processes")
    parser.add_argument(
        "--budget", type=float, default=0, help="stop starting rounds after this many seconds"
    )
    args = parser.parse_args()
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.seconds = 3 if args.quick else 8
    args.connections = 32
    args.ws_connections = 8
    args.ws_seconds = 3 if args.quick else 6
    args.broadcast_wait = 30.0
    args.budget = args.budget or (420.0 if args.quick else 1200.0)
    configs = [c for c in args.only.split(",") if c] or (
        QUICK_CONFIGS if args.quick else FULL_CONFIGS
    )
    unknown = sorted(set(configs) - set(FULL_CONFIGS))
    if unknown:
        raise SystemExit(f"unknown configuration(s) {unknown}; choose from {FULL_CONFIGS}")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk = load.ensure_wrk()
    load.raise_nofile(args.members * 2 + 1024)
    bins: dict[str, Path] = {"new": NEW_BIN}
    if any(c.startswith("legacy-") for c in configs):
        bins["legacy"] = ensure_legacy_venv().parent
    if "modern" in configs or "gunicorn" in configs:
        bins["modern"] = ensure_venv("modern", MODERN_REQUIREMENTS).parent

    raw: dict[str, list[dict[str, Any]]] = {c: [] for c in configs}
    failures: dict[str, list[str]] = {}
    started = time.monotonic()
    rounds_done = 0
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        logs = Path(tmp)
        try:
            for index in range(args.rounds):
                if index and time.monotonic() - started > args.budget:
                    print(
                        f"time budget of {args.budget:.0f} s used; stopping after {index} rounds",
                        flush=True,
                    )
                    break
                order = configs if index % 2 == 0 else configs[::-1]  # ABAB, then BABA
                for name in order:
                    deployment = build_deployment(name, bins, args, logs)
                    try:
                        figures = run_one(name, deployment, args, wrk)
                    except (StartupError, OSError, RuntimeError, TimeoutError, SystemExit) as exc:
                        log_tail = ""
                        for path in sorted(logs.glob(f"{name}-*.log")):
                            log_tail += path.read_text(errors="replace")[-800:]
                        failures.setdefault(name, []).append(
                            f"{type(exc).__name__}: {exc}\n{log_tail}"
                        )
                        print(f"  round {index + 1} {name}: FAILED {exc}", flush=True)
                        continue
                    raw[name].append(figures)
                    brief = {t: {k: round(v, 1) for k, v in f.items()} for t, f in figures.items()}
                    print(f"  round {index + 1} {name}: {brief}", flush=True)
                rounds_done = index + 1
        finally:
            stop_all()
    medians = {c: median_figures(r) for c, r in raw.items() if r}
    ratios = compute_ratios(medians)
    targets = compute_targets(medians, ratios)
    report = {
        "benchmark": "stack",
        "quick": args.quick,
        "rounds": rounds_done,
        "elapsed_s": round(time.monotonic() - started, 1),
        "settings": {
            "configs": configs,
            "workers": args.workers,
            "wrk_seconds": args.seconds,
            "wrk_connections": args.connections,
            "ws_connections": args.ws_connections,
            "ws_seconds": args.ws_seconds,
            "broadcast_members": args.members,
            "modern_requirements": MODERN_REQUIREMENTS,
        },
        "medians": medians,
        "ratios": ratios,
        "paired_ratios": paired_ratios(raw),
        "targets": targets,
        "raw": raw,
        "failures": failures,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stack.json").write_text(json.dumps(report, indent=2) + "\n")
    print_table(medians, ratios, targets)
    if failures:
        print(
            f"\nfailed runs: { {k: len(v) for k, v in failures.items()} } (details in stack.json)"
        )


if __name__ == "__main__":
    main()
