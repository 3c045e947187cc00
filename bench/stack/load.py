"""Load clients of the full-stack benchmark: wrk for HTTP, websockets for echo and broadcast.

* ``run_wrk`` drives ``GET /hello`` with Debian's ``wrk`` and parses requests/s,
  latency percentiles, non-2xx answers and socket errors.
* ``ws_echo`` keeps several WebSockets busy at once, each sending a frame and
  awaiting its echo in a loop for a fixed time: messages/s over all of them and
  the round-trip percentiles.
* ``broadcast`` opens N WebSockets on ``/broadcast`` (the consumer joins a
  group before accepting), asks ``/fire`` to send one token to the group, and
  measures the time until the last socket has it and how many never get it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import time
import urllib.request
from typing import Any

__all__ = ["broadcast", "ensure_wrk", "raise_nofile", "run_wrk", "ws_echo"]

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def ensure_wrk() -> str:
    """Return the ``wrk`` binary, installing Debian's package when running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("wrk is not installed; run `apt-get install -y wrk` as root and retry.")


def raise_nofile(wanted: int = 16384) -> int:
    """Raise this process's open-file limit towards ``wanted``; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _percentile(output: str, label: str) -> float:
    match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def run_wrk(wrk: str, port: int, seconds: float, connections: int) -> dict[str, float]:
    """Run wrk against ``/hello``; return rps, p50/p90/p99 in ms, non-2xx and errors."""
    command = [wrk, "-t", "1", "-c", str(connections), "-d", f"{max(1, round(seconds))}s"]
    command += ["--timeout", "10s", "--latency", f"http://127.0.0.1:{port}/hello"]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rps is None:
        raise RuntimeError(f"could not parse wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "rps": float(rps.group(1)),
        "p50_ms": _percentile(output, "50"),
        "p90_ms": _percentile(output, "90"),
        "p99_ms": _percentile(output, "99"),
        "non_2xx": float(non_2xx.group(1)) if non_2xx else 0.0,
        "errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
    }


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _echo_one(url: str, seconds: float, times: list[float]) -> None:
    import websockets

    async with websockets.connect(url, max_size=None, open_timeout=30) as ws:
        payload = "x" * 100
        for _ in range(5):  # warm-up
            await ws.send(payload)
            await ws.recv()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            sent = time.perf_counter()
            await ws.send(payload)
            if await ws.recv() != payload:
                raise RuntimeError("echo answered a different frame")
            times.append(time.perf_counter() - sent)


async def _ws_echo(port: int, connections: int, seconds: float) -> dict[str, float]:
    times: list[float] = []
    url = f"ws://127.0.0.1:{port}/echo"
    await asyncio.gather(*(_echo_one(url, seconds, times) for _ in range(connections)))
    ms = [t * 1000 for t in times]
    return {
        "msgs_per_s": len(times) / seconds,
        "p50_ms": _quantile(ms, 0.5),
        "p99_ms": _quantile(ms, 0.99),
    }


def ws_echo(port: int, connections: int, seconds: float) -> dict[str, float]:
    """Echo 100-byte frames on ``connections`` sockets for ``seconds``; return rate and RTT."""
    return asyncio.run(asyncio.wait_for(_ws_echo(port, connections, seconds), seconds + 120))


async def _broadcast(port: int, members: int, wait: float) -> dict[str, Any]:
    import websockets

    url = f"ws://127.0.0.1:{port}/broadcast"
    token = secrets.token_hex(8)
    opened: list[Any] = []
    failures = 0
    limit = asyncio.Semaphore(50)

    async def open_one() -> None:
        nonlocal failures
        async with limit:
            try:
                opened.append(await websockets.connect(url, open_timeout=60, ping_interval=None))
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
                failures += 1

    start_open = time.perf_counter()
    await asyncio.gather(*(open_one() for _ in range(members)))
    open_seconds = time.perf_counter() - start_open
    arrivals: list[float] = []

    async def listen(ws: Any) -> None:
        with contextlib.suppress(websockets.exceptions.WebSocketException, TimeoutError):
            while True:
                frame = await ws.recv()
                if frame == token:
                    arrivals.append(time.perf_counter())
                    return

    listeners = [asyncio.ensure_future(listen(ws)) for ws in opened]
    fired = time.perf_counter()
    fire_url = f"http://127.0.0.1:{port}/fire?token={token}"
    await asyncio.to_thread(lambda: urllib.request.urlopen(fire_url, timeout=60).read())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*listeners), wait)
    for task in listeners:
        task.cancel()
    received = len(arrivals)
    await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
    delays = [(t - fired) * 1000 for t in arrivals]
    return {
        "members": members,
        "connected": len(opened),
        "connect_failures": failures,
        "open_s": open_seconds,
        "received": received,
        "lost": len(opened) - received,
        "last_ms": max(delays) if delays else float("nan"),
        "median_ms": statistics.median(delays) if delays else float("nan"),
    }


def broadcast(port: int, members: int, wait: float = 30.0) -> dict[str, Any]:
    """Send one token to a group of ``members`` open WebSockets; return timing and loss."""
    raise_nofile(members * 2 + 1024)
    return asyncio.run(asyncio.wait_for(_broadcast(port, members, wait), wait + 600))
