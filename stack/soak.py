"""Soak the whole stack: mixed HTTP, WebSocket and group traffic on Redis for N minutes.

``make soak`` runs ``python stack/soak.py`` (10 minutes). It deploys the stack
test site (stack/stack_site) as Daphne + two runworker processes on the Redis at
ASGI_REDIS_URL under a fresh prefix, drives it with HTTP clients and WebSocket
clients that join groups, broadcast, and reconnect, and samples the resident
memory of Daphne and the workers, Redis' memory and the number of Redis keys
under the prefix. Memory is "flat" when the last sample is within 25% + 20 MiB
of the first sample taken after the warm-up; the key count must not keep
growing. Afterwards it runs the RabbitMQ restart fault test, which needs two
broker start-ups and so is not part of ``make test``.

    python stack/soak.py [--minutes 10] [--no-rabbitmq-restart]

Exit status 0 when memory stayed flat, keys did not pile up, under 1% of the
requests failed and the fault test passed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import redis
import websockets

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "tests"))

from stackharness import REDIS_URL, Site, redis_reachable, rss_kib  # noqa: E402

SAMPLE_EVERY = 30.0


class Counters:
    """Thread-safe outcome counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: collections.Counter[str] = collections.Counter()
        self.lost_tokens: list[str] = []

    def add(self, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] += 1


def http_client(site: Site, stop: threading.Event, counters: Counters, seed: int) -> None:
    """Send a mix of small, echo and 10 KB-body requests, on kept-alive and new connections."""
    rng = random.Random(seed)
    body = b"x" * 10240
    with httpx.Client(base_url=site.url, timeout=60) as client:
        while not stop.is_set():
            choice = rng.random()
            try:
                if choice < 0.5:
                    response = client.get("/hello")
                elif choice < 0.7:
                    response = client.get("/echo", headers={"X-Soak": str(rng.random())})
                elif choice < 0.9:
                    response = client.post("/upload", content=body)
                else:
                    response = httpx.get(site.url + "/hello", timeout=60)
                counters.add(
                    "http ok" if response.status_code == 200 else f"http {response.status_code}"
                )
            except httpx.HTTPError as exc:
                counters.add(f"http {type(exc).__name__}")


async def ws_client(site: Site, stop: threading.Event, counters: Counters, seed: int) -> None:
    """Join a room's group, echo and broadcast for a while, leave; repeat until ``stop``."""
    rng = random.Random(seed)
    while not stop.is_set():
        room = f"soak{rng.randrange(4)}"
        token = ""
        try:
            async with websockets.connect(f"{site.ws_url}/room/{room}", open_timeout=60) as socket_:
                for _ in range(rng.randrange(5, 30)):
                    if stop.is_set():
                        break
                    token = f"t{rng.random()}"
                    if rng.random() < 0.3:
                        await socket_.send(f"say:{room}:{token}")
                        counters.add("group sent")
                    else:
                        await socket_.send(token)
                    await asyncio.wait_for(_expect(socket_, token), 60)
                    counters.add("ws ok")
                    await asyncio.sleep(rng.random() * 0.2)
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            counters.add(f"ws {type(exc).__name__}")
            if isinstance(exc, TimeoutError) and token:
                counters.lost_tokens.append(token)
            await asyncio.sleep(1)


async def _expect(socket_: websockets.ClientConnection, wanted: str) -> None:
    # Group broadcasts from other sockets of the room arrive in between.
    while str(await socket_.recv()) != wanted:
        pass


def ws_clients(site: Site, stop: threading.Event, counters: Counters, count: int) -> None:
    async def run_all() -> None:
        await asyncio.gather(*(ws_client(site, stop, counters, n) for n in range(count)))

    asyncio.run(run_all())


def redis_state(prefix: str) -> tuple[int, int]:
    """Return (keys under ``prefix``, Redis used_memory in KiB)."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=30)
    try:
        keys = sum(1 for _ in client.scan_iter(f"{prefix}:*", count=1000))
        used = int(client.info("memory")["used_memory"]) // 1024
    finally:
        client.close()
    return keys, used


def sample(site: Site) -> dict[str, int]:
    values = {proc.name: rss_kib(proc.pid) for proc in site.processes if proc.popen.poll() is None}
    values["redis keys"], values["redis used KiB"] = redis_state(site.prefix)
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="soak duration (default 10)")
    parser.add_argument("--http-clients", type=int, default=3)
    parser.add_argument("--ws-clients", type=int, default=20)
    parser.add_argument("--no-rabbitmq-restart", action="store_true", help="skip the fault test")
    args = parser.parse_args()
    if args.minutes <= 0:
        parser.error(f"--minutes is {args.minutes}; it must be above 0.")
    if not redis_reachable(REDIS_URL):
        print(f"Redis at {REDIS_URL} is unreachable; start it with `make services`.")
        return 1
    site = Site()
    stop = threading.Event()
    counters = Counters()
    samples: list[tuple[float, dict[str, int]]] = []
    ok = True
    try:
        site.start_daphne("--http-timeout", "60")
        for _ in range(2):
            site.start_worker(threads=2, wait=False)
        for worker in site.workers:
            worker.wait_for(r"Listening on channels")
        threads = [
            threading.Thread(target=http_client, args=(site, stop, counters, n), daemon=True)
            for n in range(args.http_clients)
        ]
        threads.append(
            threading.Thread(
                target=ws_clients, args=(site, stop, counters, args.ws_clients), daemon=True
            )
        )
        for thread in threads:
            thread.start()
        duration = args.minutes * 60
        warmup = min(60.0, duration / 5)
        began = time.monotonic()
        time.sleep(warmup)
        samples.append((time.monotonic() - began, sample(site)))
        while time.monotonic() - began < duration:
            time.sleep(min(SAMPLE_EVERY, max(0.0, duration - (time.monotonic() - began))))
            samples.append((time.monotonic() - began, sample(site)))
            print(f"{samples[-1][0]:7.0f}s {samples[-1][1]} {dict(counters.counts)}", flush=True)
        stop.set()
        for thread in threads:
            thread.join(120)
        time.sleep(5)
        drained = sample(site)
        records = site.raw_records()
        reached = [token for token in counters.lost_tokens if f'{token}"' in records]
        broadcast = sum(1 for token in reached if f':{token}"' in records)
        print(
            f"\n{len(counters.lost_tokens)} WebSocket replies never arrived; the worker had "
            f"received {len(reached)} of those frames ({broadcast} group sends, "
            f"{len(reached) - broadcast} echoes)"
        )
        problems = [
            f"[{proc.name}] {line}"
            for proc in site.processes
            for index, line in enumerate(proc.lines)
            if any(
                word in text
                for text in proc.lines[max(0, index - 12) : index + 1]
                for word in ("ERROR", "WARNING")
            )
        ]
        print(f"{len(problems)} warning/error lines from the processes", *problems[:40], sep="\n")
    finally:
        stop.set()
        site.close()

    first, last = samples[0][1], samples[-1][1]
    print("\nsoak report (RSS in KiB; first sample after the warm-up vs last)")
    print(f"{'':16}{'start':>12}{'end':>12}")
    for name in first:
        print(f"{name:16}{first[name]:>12}{last.get(name, 0):>12}")
    print(f"redis keys after the clients left: {drained['redis keys']}")
    print(f"outcomes: {dict(counters.counts)}")
    for name in first:
        if name.startswith("redis"):
            continue
        if last.get(name, 0) > first[name] * 1.25 + 20 * 1024:
            print(f"NOT FLAT: {name} grew from {first[name]} to {last[name]} KiB")
            ok = False
    key_limit = max(first["redis keys"] * 2, first["redis keys"] + 200)
    if last["redis keys"] > key_limit:
        print(f"KEYS PILE UP: {first['redis keys']} -> {last['redis keys']} under {site.prefix}:")
        ok = False
    total = sum(counters.counts.values())
    failed = sum(
        n for outcome, n in counters.counts.items() if not outcome.endswith(("ok", "sent"))
    )
    if total == 0 or failed > total * 0.01:
        print(f"TOO MANY FAILURES: {failed} of {total}")
        ok = False

    if not args.no_rabbitmq_restart:
        print("\nRabbitMQ restart under load (stack/tests/test_faults.py):", flush=True)
        env = dict(os.environ, STACK_SOAK="1")
        done = subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"),
                *(str(HERE / "tests" / "test_faults.py"), "-k", "rabbitmq_restart"),
            ],
            env=env,
            cwd=HERE.parent,
            timeout=900,
        )
        ok = ok and done.returncode == 0
    print("soak: PASSED" if ok else "soak: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
