"""The full-stack benchmark's CPU accounting (bench/stack/cpu.py) and its report table."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import report  # noqa: E402

from stack import cpu  # noqa: E402

pytestmark = pytest.mark.skipif(not cpu.available(), reason="needs Linux /proc")

# Burns 0.4 s of CPU, then stays alive (an exited child would leave /proc).
BUSY = (
    "import time\n"
    "end = time.process_time() + 0.4\n"
    "while time.process_time() < end: pass\n"
    "time.sleep(30)\n"
)
IDLE = "import time; time.sleep(30)"


def test_listener_pid_finds_the_process_listening_on_a_port() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        assert cpu.listener_pid(port) is None  # bound, not listening yet
        listener.listen()
        assert cpu.listener_pid(port) == os.getpid()


def test_meter_charges_a_busy_process_group_to_its_role() -> None:
    server = subprocess.Popen([sys.executable, "-c", IDLE], start_new_session=True)
    # The worker's busy child is in the worker's process group, so it counts as the worker's.
    spawn = f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {BUSY!r}]); {IDLE}"
    worker = subprocess.Popen([sys.executable, "-c", spawn], start_new_session=True)
    try:
        meter = cpu.CpuMeter([server.pid, worker.pid])
        before = meter.snapshot()
        deadline = time.monotonic() + 10
        after = meter.snapshot()
        while after["workers"] - before["workers"] < 0.35 and time.monotonic() < deadline:
            time.sleep(0.05)
            after = meter.snapshot()
        figures = cpu.CpuMeter.per_request(before, after, requests=100)
    finally:
        for process in (server, worker):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert figures["cpu_us_workers"] >= 3500  # 0.35 s or more over 100 "requests"
    assert figures["cpu_us_server"] < 1000
    roles = ("server", "workers", "client")
    assert figures["cpu_us_total"] == pytest.approx(sum(figures[f"cpu_us_{r}"] for r in roles))


def test_per_request_refuses_to_divide_by_no_requests() -> None:
    assert cpu.CpuMeter.per_request({"server": 1.0}, {"server": 2.0}, 0) == {}


def test_report_turns_cpu_figures_into_cores_busy() -> None:
    medians = {
        "new-redis": {"http": {"rps": 2000.0, "cpu_us_server": 300.0, "cpu_us_total": 900.0}},
        "gunicorn": {"http": {"rps": 3000.0}},  # no CPU figures: no row
    }
    rows = report._cpu_rows(medians)
    assert [name for name, _ in rows] == ["http CPU per request: new-redis"]
    values = rows[0][1]
    assert values["server µs"] == 300.0
    assert values["cores busy"] == 1.8
