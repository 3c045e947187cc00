"""CPU accounting for the full-stack benchmark: CPU time per request, by process role.

Throughput on a small machine is bounded by the CPU that every process of a
configuration spends per request, the load client included, so the benchmark
reports that cost next to requests/s: it shows where a configuration's time
goes and why one is faster than another. The figures come from the kernel's
per-process accounting (``/proc/<pid>/stat``: user plus system time, all
threads), read before and after a load:

* ``server``: the configuration's first process group (daphne, runserver or
  gunicorn, with any children it forked, such as gunicorn's workers);
* ``workers``: the other process groups (``runworker``);
* ``broker``: the Redis or RabbitMQ server the configuration uses, found by the
  TCP port it listens on (shared with nothing else during a run);
* ``client``: the load generator (wrk as a child process, or the WebSocket
  client running in this process).

A process that exits during a load takes its CPU time with it (only its parent's
``cutime`` would keep it), so the figures suit long-lived servers and workers,
which is what every configuration runs. Linux only; elsewhere :func:`available`
is False and the benchmark skips these figures.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuMeter", "available", "listener_pid"]

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def available() -> bool:
    """Return True where per-process CPU times can be read (Linux ``/proc``)."""
    return (_PROC / "self" / "stat").exists()


def _stat_fields(pid: str) -> list[str] | None:
    try:
        text = (_PROC / pid / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after it.
    return text[text.rindex(")") + 2 :].split()


def _cpu_seconds(fields: list[str]) -> float:
    # After the name: state, ppid, pgrp, ... utime is field 14, stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _cpu_by_group(groups: set[int]) -> dict[int, float]:
    """Return the CPU seconds (user + system) of each process group in ``groups`` (one scan)."""
    totals = dict.fromkeys(groups, 0.0)
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        if fields is not None and int(fields[2]) in totals:
            totals[int(fields[2])] += _cpu_seconds(fields)
    return totals


def listener_pid(port: int) -> int | None:
    """Return the pid of the process listening on TCP ``port`` (IPv4 or IPv6), if visible."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (_PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(entry.name)
        except OSError:
            continue
    return None


@dataclass
class CpuMeter:
    """Measures the CPU of a configuration's roles over one load.

    ``groups`` are the configuration's process-group ids, server first;
    ``broker`` the pid of its Redis or RabbitMQ server (None: not measured).
    """

    groups: list[int]
    broker: int | None = None

    def snapshot(self) -> dict[str, float]:
        """Return CPU seconds so far per role (the client as this process plus its children)."""
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        by_group = _cpu_by_group(set(self.groups))
        server, *workers = self.groups
        figures = {
            "server": by_group[server],
            "workers": sum(by_group[group] for group in workers),
            # wrk is a waited-for child of this process; the WebSocket client runs in it.
            "client": time.process_time() + children.ru_utime + children.ru_stime,
        }
        if self.broker is not None:
            fields = _stat_fields(str(self.broker))
            figures["broker"] = 0.0 if fields is None else _cpu_seconds(fields)
        return figures

    @staticmethod
    def per_request(
        before: dict[str, float], after: dict[str, float], requests: float
    ) -> dict[str, float]:
        """Return microseconds of CPU per request per role, plus their total, as ``cpu_us_*``."""
        if requests <= 0:
            return {}
        out = {
            f"cpu_us_{role}": round((after[role] - before[role]) * 1e6 / requests, 1)
            for role in before
            if role in after
        }
        out["cpu_us_total"] = round(sum(out.values()), 1)
        return out
