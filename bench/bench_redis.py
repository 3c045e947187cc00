"""Benchmark asgi_redis 2 against the original asgi_redis 1.4.3, side by side.

Both layers run in their own processes on the same Redis server (database 3,
unique prefixes, cleaned up afterwards): this project's layer with
``.venv/bin/python``, the original in ``bench/peers/legacy`` (see
``bench/_peers.py``). Rounds are interleaved (new, legacy, new, legacy, ...) and
each figure is the median of the rounds.

* throughput: one process sends N messages to a channel, then receives them
  (``block=True``, as a worker does); messages per second for each half;
* round trip: one process sends to ``bench.ping`` and waits on its
  ``bench.reply!`` prefix, a second process echoes; p50 and p99 latency;
* fan-out: ``send_group`` to a 1,000-member group; time per call, and every
  member's copies counted afterwards (loss must be zero).

Two more figures explain the throughput ratio. ``floor`` runs the same
throughput loop with every send and every receive replaced by one bare
``PING`` on a raw socket: no layer, no script, no serialization, so it is the
most any layer can reach when each call is one round trip to Redis (the
``floor_throughput_x`` ratio against 1.4.3). ``server_us_per_pair`` is Redis's
own time per send + receive pair for each version (SLOWLOG durations over the
throughput phase, with every command logged during that phase only):
``floor_with_server_x`` adds this layer's server time to the floor, the bound
left once the scripts' work is counted.

That floor sleeps in ``recv`` for each reply, as asgi_redis 1.4.3 (and redis-py)
does. This layer polls for its reply for up to ``busy_poll_us`` before sleeping
(see ``asgi_redis._fastpath``), so two more setups separate what polling brings
from the rest: ``new-sleep`` is this layer with ``busy_poll_us=0`` (its ratio is
``sleeping_throughput_x``) and ``floor-poll`` is the bare PING loop polling the
same way (``poll_floor_throughput_x``).

Both versions run twice per round: over TCP loopback (the main figures) and
over the same server's unix socket (``new-unix`` / ``legacy-unix``, the usual
transport when Redis runs on the application's machine; ``scripts/services.sh``
creates the socket). ``--no-unix`` skips the latter.

    .venv/bin/python bench/bench_redis.py [--quick]

Prints a table and writes ``bench/results/redis.json``.
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
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH))

from _peers import ensure_legacy_venv  # noqa: E402

BASE_URL = os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")
BENCH_URL = BASE_URL.rsplit("/", 1)[0] + "/3"
_UNIX_SOCKET = urlsplit(
    os.environ.get("ASGI_REDIS_UNIX_URL") or f"unix://{BENCH.parent}/.state/redis-16379.sock"
).path
BENCH_UNIX_URL = f"unix://{_UNIX_SOCKET}?db=3"
NEW_PYTHON = Path(sys.executable)

# Run by both interpreters; only the interpreter (and so the asgi_redis version) differs.
# "serve" reads one JSON command per line and answers one JSON line, so the two
# versions can alternate in short phases; "echo" answers pings until told to stop.
WORKER = r"""
import json, socket, sys, time

mode, url, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
# "sleep": this layer with busy polling off; "poll": the floor polls for its replies.
variant = sys.argv[4] if len(sys.argv) > 4 else ""


class PingOnly:
    # The round-trip floor: each send and each receive is one bare PING.

    def __init__(self, url):
        from urllib.parse import urlsplit
        parts = urlsplit(url)
        if parts.scheme == "unix":
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(parts.path)
        else:
            self.sock = socket.create_connection((parts.hostname, parts.port or 6379))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _ping(self):
        self.sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = b""
        deadline = time.perf_counter() + POLL_SECONDS if variant == "poll" else 0
        while not reply.endswith(b"\r\n"):
            if deadline and time.perf_counter() < deadline:
                try:
                    reply += self.sock.recv(64, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    pass
                continue
            reply += self.sock.recv(64)

    def send(self, channel, message):
        self._ping()

    def receive(self, channels, block=False):
        self._ping()
        return channels[0], {}


if variant == "poll":
    # The same budget this layer polls for by default (only the new interpreter polls).
    from asgi_redis._fastpath import DEFAULT_BUSY_POLL_US
    POLL_SECONDS = DEFAULT_BUSY_POLL_US / 1e6

if mode == "floor":
    layer = PingOnly(url)
else:
    from asgi_redis import RedisChannelLayer
    options = {"busy_poll_us": 0} if variant == "sleep" else {}
    layer = RedisChannelLayer(hosts=[url], prefix=prefix, stats_prefix=prefix + "meta:",
                              capacity=100000, **options)
PAYLOAD = {"text": "x" * 100, "reply_channel": "bench.reply!abc", "n": 0}


def throughput(n):
    start = time.perf_counter()
    for i in range(n):
        layer.send("bench.tp", PAYLOAD)
    middle = time.perf_counter()
    for i in range(n):
        channel, message = layer.receive(["bench.tp"], block=True)
        assert channel == "bench.tp", channel
    end = time.perf_counter()
    return {"send_per_s": n / (middle - start), "receive_per_s": n / (end - middle),
            "pair_per_s": n / (end - start)}


def ping(m):
    samples = []
    for i in range(m):
        started = time.perf_counter()
        layer.send("bench.ping", {"reply": "bench.reply!x", "n": i, "text": "x" * 100})
        channel, message = layer.receive(["bench.reply!"], block=True)
        assert message["n"] == i, message
        samples.append(time.perf_counter() - started)
    return {"samples": samples}


members = []


def fanout(count):
    if not members:
        members.extend("bench.fan.%d" % i for i in range(count))
        for member in members:
            layer.group_add("bench.everyone", member)
    started = time.perf_counter()
    layer.send_group("bench.everyone", {"text": "x" * 100})
    elapsed = time.perf_counter() - started
    received = 0
    for member in members:
        while layer.receive([member])[0] is not None:
            received += 1
    return {"send_group_ms": elapsed * 1000, "lost": count - received}


if mode == "echo":
    while True:
        channel, message = layer.receive(["bench.ping"], block=True)
        if channel is None:
            continue
        if message.get("stop"):
            break
        layer.send(message["reply"], message)
else:
    for line in sys.stdin:
        command = json.loads(line)
        if command["do"] == "quit":
            break
        result = {"throughput": throughput, "ping": ping, "fanout": fanout}[command["do"]](
            command["size"])
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
"""


def _prefix(impl: str) -> str:
    token = "".join(random.choices(string.ascii_lowercase, k=8))
    return f"bench-{impl}-{token}:"


def _cleanup(prefix: str) -> None:
    client = redis.Redis.from_url(BENCH_URL)
    batch = list(client.scan_iter(match=prefix + "*", count=1000))
    for start in range(0, len(batch), 500):
        client.unlink(*batch[start : start + 500])
    client.close()


class Peer:
    """One asgi_redis version: a command-serving worker and an echo process."""

    def __init__(self, impl: str, python: Path, script: Path, url: str) -> None:
        self.impl = impl
        self.prefix = _prefix(impl)
        argv = [str(python), str(script)]
        floor = impl.startswith("floor")
        variant = {"new-sleep": "sleep", "floor-poll": "poll"}.get(impl, "")
        self.echo = None if floor else subprocess.Popen([*argv, "echo", url, self.prefix, variant])
        self.server = subprocess.Popen(
            [*argv, "floor" if floor else "serve", url, self.prefix, variant],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, do: str, size: int) -> dict[str, Any]:
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(json.dumps({"do": do, "size": size}) + "\n")
        self.server.stdin.flush()
        line = self.server.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.impl} benchmark worker died")
        return json.loads(line)  # type: ignore[no-any-return]

    def close(self) -> None:
        try:
            if self.server.poll() is None:
                assert self.server.stdin is not None
                self.server.stdin.write(json.dumps({"do": "quit"}) + "\n")
                self.server.stdin.flush()
                self.server.wait(timeout=60)
        finally:
            self._stop_echo()
            _cleanup(self.prefix)

    def _stop_echo(self) -> None:
        if self.echo is not None and self.echo.poll() is None:
            self.echo.terminate()
            self.echo.wait(timeout=60)


def _server_us(client: redis.Redis, run: Any, entries: int) -> tuple[Any, float]:
    """Call ``run()``; return its result and Redis's own time (microseconds) meanwhile.

    The time is the sum of SLOWLOG durations, with the server told to log every
    command (up to ``entries``) for just this call: the execution time of each
    top-level command, scripts including the commands they call, socket I/O
    excluded. The server's settings are restored afterwards.
    """
    keys = ("slowlog-log-slower-than", "slowlog-max-len")
    saved = {key: str(client.config_get(key)[key]) for key in keys}
    client.config_set("slowlog-max-len", entries)
    client.slowlog_reset()
    client.config_set("slowlog-log-slower-than", 0)
    try:
        result = run()
        logged = client.slowlog_get(-1)
    finally:
        for key, value in saved.items():
            client.config_set(key, value)
        client.slowlog_reset()
    return result, float(sum(entry["duration"] for entry in logged))


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, smaller rounds")
    parser.add_argument("--no-unix", action="store_true", help="skip the unix-socket runs")
    args = parser.parse_args()
    sizes = (
        {"n": 500, "m": 100, "members": 1000, "rounds": 9}
        if args.quick
        else {"n": 1000, "m": 300, "members": 1000, "rounds": 21}
    )
    legacy_python = ensure_legacy_venv()
    setups = {"new": (NEW_PYTHON, BENCH_URL), "legacy": (legacy_python, BENCH_URL)}
    if not args.no_unix:
        if not Path(_UNIX_SOCKET).exists():
            raise SystemExit(
                f"No Redis unix socket at {_UNIX_SOCKET}: start the servers with "
                "scripts/services.sh start, or pass --no-unix."
            )
        setups["new-unix"] = (NEW_PYTHON, BENCH_UNIX_URL)
        setups["legacy-unix"] = (legacy_python, BENCH_UNIX_URL)
    setups["new-sleep"] = (NEW_PYTHON, BENCH_URL)
    setups["floor"] = (NEW_PYTHON, BENCH_URL)
    setups["floor-poll"] = (NEW_PYTHON, BENCH_URL)
    stats_client = redis.Redis.from_url(BENCH_URL)
    rounds: dict[str, list[dict[str, float]]] = {impl: [] for impl in setups}
    pings: dict[str, list[float]] = {impl: [] for impl in setups if not impl.startswith("floor")}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "redis_worker.py"
        script.write_text(WORKER)
        peers = {impl: Peer(impl, py, script, url) for impl, (py, url) in setups.items()}
        try:
            for peer in peers.values():  # warm up: imports, connections, script cache
                peer.run("throughput", 100)
                if not peer.impl.startswith("floor"):
                    peer.run("ping", 20)
            for number in range(sizes["rounds"]):
                order = list(setups) if number % 2 == 0 else list(reversed(setups))
                for impl in order:
                    peer = peers[impl]
                    if impl.startswith("floor"):
                        rounds[impl].append(peer.run("throughput", sizes["n"]))
                        continue
                    figures, busy_us = _server_us(
                        stats_client,
                        lambda peer=peer: peer.run("throughput", sizes["n"]),
                        20 * sizes["n"],
                    )
                    figures["server_us_per_pair"] = busy_us / sizes["n"]
                    pings[impl] += peer.run("ping", sizes["m"])["samples"]
                    figures.update(peer.run("fanout", sizes["members"]))
                    rounds[impl].append(figures)
        finally:
            stats_client.close()
            for peer in peers.values():
                peer.close()
    floors = {}
    for name in ("floor", "floor-poll"):
        floor_rounds = rounds.pop(name)
        floors[name] = {
            key: statistics.median(result[key] for result in floor_rounds)
            for key in ("send_per_s", "receive_per_s", "pair_per_s")
        }
    floor = floors["floor"]
    medians: dict[str, dict[str, float]] = {}
    for impl, results in rounds.items():
        medians[impl] = {
            key: statistics.median(result[key] for result in results)
            for key in (
                "send_per_s",
                "receive_per_s",
                "pair_per_s",
                "send_group_ms",
                "server_us_per_pair",
            )
        }
        # The least disturbed round (highest rate, shortest fan-out) as a second view:
        # on a shared, loaded machine it shows what each version does when it gets the CPU.
        medians[impl]["best_pair_per_s"] = max(result["pair_per_s"] for result in results)
        medians[impl]["best_send_group_ms"] = min(result["send_group_ms"] for result in results)
        medians[impl]["lost"] = sum(result["lost"] for result in results)
        medians[impl]["p50_ms"] = _percentile(pings[impl], 0.50) * 1000
        medians[impl]["p99_ms"] = _percentile(pings[impl], 0.99) * 1000
    new, old = medians["new"], medians["legacy"]
    ratios = {
        "throughput_x": new["pair_per_s"] / old["pair_per_s"],
        "send_throughput_x": new["send_per_s"] / old["send_per_s"],
        "receive_throughput_x": new["receive_per_s"] / old["receive_per_s"],
        "round_trip_p50_x_faster": old["p50_ms"] / new["p50_ms"],
        "round_trip_p99_x_faster": old["p99_ms"] / new["p99_ms"],
        "fanout_1000_x_faster": old["send_group_ms"] / new["send_group_ms"],
        "best_round_throughput_x": new["best_pair_per_s"] / old["best_pair_per_s"],
        "best_round_fanout_x_faster": old["best_send_group_ms"] / new["best_send_group_ms"],
        # Bounds, not results: one bare round trip per call, then plus our scripts' time.
        "floor_throughput_x": floor["pair_per_s"] / old["pair_per_s"],
        "floor_with_server_x": 1
        / (1 / floor["pair_per_s"] + new["server_us_per_pair"] / 1e6)
        / old["pair_per_s"],
        # What polling for replies brings: this layer sleeping, and the floor polling.
        "sleeping_throughput_x": medians["new-sleep"]["pair_per_s"] / old["pair_per_s"],
        "poll_floor_throughput_x": floors["floor-poll"]["pair_per_s"] / old["pair_per_s"],
    }
    if "new-unix" in medians:
        new_unix, old_unix = medians["new-unix"], medians["legacy-unix"]
        ratios["unix_throughput_x"] = new_unix["pair_per_s"] / old_unix["pair_per_s"]
        ratios["unix_round_trip_p50_x_faster"] = old_unix["p50_ms"] / new_unix["p50_ms"]
        ratios["unix_fanout_1000_x_faster"] = old_unix["send_group_ms"] / new_unix["send_group_ms"]
    rows = [
        ("send + receive (msg/s)", "pair_per_s", "{:,.0f}"),
        ("send only (msg/s)", "send_per_s", "{:,.0f}"),
        ("receive only (msg/s)", "receive_per_s", "{:,.0f}"),
        ("round trip p50 (ms)", "p50_ms", "{:.3f}"),
        ("round trip p99 (ms)", "p99_ms", "{:.3f}"),
        ("send_group to 1,000 (ms)", "send_group_ms", "{:.2f}"),
        ("Redis time per pair (us)", "server_us_per_pair", "{:.1f}"),
        ("best round send + receive", "best_pair_per_s", "{:,.0f}"),
        ("best round send_group (ms)", "best_send_group_ms", "{:.2f}"),
        ("messages lost in fan-out", "lost", "{:.0f}"),
    ]
    print(
        f"asgi_redis 2 vs asgi_redis 1.4.3, {sizes['rounds']} interleaved rounds "
        f"(medians; round trips pooled), Redis {BENCH_URL}"
    )
    print(f"{'figure':28} " + " ".join(f"{impl:>14}" for impl in medians))
    for label, key, fmt in rows:
        print(f"{label:28} " + " ".join(f"{fmt.format(m[key]):>14}" for m in medians.values()))
    print(f"{'round-trip floor (msg/s)':28} {floor['pair_per_s']:14,.0f}")
    print(f"{'polling floor (msg/s)':28} {floors['floor-poll']['pair_per_s']:14,.0f}")
    print()
    for name, value in ratios.items():
        print(f"{name:28} {value:8.2f}x")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "redis.json").write_text(
        json.dumps(
            {
                "quick": args.quick,
                "sizes": sizes,
                "server": BENCH_URL,
                "unix_server": None if args.no_unix else BENCH_UNIX_URL,
                "result": medians,
                "floor": floor,
                "floor_poll": floors["floor-poll"],
                "ratios": ratios,
                "rounds": rounds,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
