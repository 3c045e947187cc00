"""Fault tests: workers, Daphne and the channel layer's server fail under real traffic.

Every test deploys the stack test site (stack/stack_site) as real ``daphne`` and
``manage.py runworker`` processes on Redis (one also on shared memory, whose semaphore waits a
signal interrupts, and on RabbitMQ), then kills, stops or restarts one
part while requests are in flight, and checks what the clients saw.
The RabbitMQ restart takes a minute of broker start-up, so it runs under
``make soak`` (``STACK_SOAK=1``) rather than ``make test``.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import require_redis
from stackharness import OwnRabbit, OwnRedis, Site, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

CLIENT_TIMEOUT = 90.0


def _get(site: Site, path: str, timeout: float = CLIENT_TIMEOUT) -> httpx.Response:
    return httpx.get(site.url + path, timeout=timeout)


def _started(site: Site, path: str) -> list[int]:
    return [
        record["pid"]
        for record in site.records()
        if record["channel"] == "http.request"
        and record.get("event") == "start"
        and record["content"]["path"] == path
    ]


def test_killed_worker_gives_503_and_others_keep_serving(site: Site) -> None:
    site.start_daphne("--http-timeout", "6")
    first = site.start_worker(wait=False)
    second = site.start_worker(wait=False)
    for worker in (first, second):
        worker.wait_for(r"Listening on channels")

    with ThreadPoolExecutor(1) as pool:
        begun = time.monotonic()
        pending = pool.submit(_get, site, "/slow/120")
        taken = wait_until(lambda: _started(site, "/slow/120"), 60)
        assert taken, site.output()
        victim = first if taken[0] == first.pid else second
        survivor = second if victim is first else first
        victim.signal(signal.SIGKILL)
        response = pending.result(timeout=CLIENT_TIMEOUT)
        waited = time.monotonic() - begun
    assert victim.wait(30) == -signal.SIGKILL
    # Daphne gave up after its --http-timeout (6 s) instead of hanging on the dead worker.
    assert response.status_code == 503, (response.status_code, response.text, site.output())
    assert waited < 60, waited

    # The other worker keeps serving.
    for _ in range(5):
        reply = _get(site, "/hello")
        assert reply.status_code == 200, site.output()
        assert reply.text == f"hello {survivor.pid}"

    # A new worker picks up new work once the survivor has stopped.
    newcomer = site.start_worker()
    assert survivor.stop() == 0
    reply = _get(site, "/hello")
    assert (reply.status_code, reply.text) == (200, f"hello {newcomer.pid}"), site.output()


def test_sigterm_worker_under_load_finishes_what_it_took(site: Site) -> None:
    site.start_daphne("--http-timeout", "120")
    stopping = site.start_worker(threads=2, wait=False)
    staying = site.start_worker(threads=2, wait=False)
    for worker in (stopping, staying):
        worker.wait_for(r"Listening on channels")
    paths = [f"/slow/0.{n % 5 + 1}" for n in range(40)]

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(_get, site, path) for path in paths]
        took_some = wait_until(
            lambda: any(r["pid"] == stopping.pid for r in site.records()), CLIENT_TIMEOUT
        )
        assert took_some, site.output()
        stopping.signal(signal.SIGTERM)
        responses = [future.result(timeout=CLIENT_TIMEOUT * 2) for future in futures]
    assert stopping.wait(60) == 0, stopping.lines[-20:]
    # A clean stop says nothing alarming (no "replies may be lost", no traceback).
    alarms = [line for line in stopping.lines if "ERROR" in line or "Traceback" in line]
    assert alarms == [], alarms

    statuses = collections.Counter(response.status_code for response in responses)
    assert statuses == {200: len(paths)}, (statuses, site.output())
    # Everything the stopped worker started, it also finished.
    events = collections.Counter(
        (r["content"]["reply_channel"], r["event"])
        for r in site.records(stopping.pid)
        if r["channel"] == "http.request"
    )
    started = {channel for channel, event in events if event == "start"}
    done = {channel for channel, event in events if event == "done"}
    assert started and started == done
    served_by = collections.Counter(response.text.split()[1] for response in responses)
    assert str(staying.pid) in served_by, served_by


@pytest.mark.parametrize("site", ["redis", "ipc", "rabbitmq"], indirect=True)
def test_sigterm_idle_worker_stops_at_once_and_quietly(site: Site) -> None:
    # An idle one-thread worker is waiting in the layer when the signal comes (on
    # shared memory the signal interrupts its semaphore wait), with the reply it
    # last sent still kept for that receive.
    site.start_daphne()
    worker = site.start_worker(threads=1)
    assert _get(site, "/hello").text == f"hello {worker.pid}"
    time.sleep(0.5)
    signalled = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.lines[-20:]
    assert time.monotonic() - signalled < 10
    alarms = [line for line in worker.lines if "ERROR" in line or "WARNING" in line]
    assert alarms == [], alarms


def test_sigterm_daphne_finishes_in_flight_and_refuses_new(site: Site) -> None:
    daphne = site.start_daphne("--http-timeout", "120", "--shutdown-timeout", "40")
    site.start_worker(threads=3)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(_get, site, "/slow/5") for _ in range(3)]
        assert wait_until(lambda: len(_started(site, "/slow/5")) == 3, 60), site.output()
        signalled = time.monotonic()
        daphne.signal(signal.SIGTERM)

        def refused() -> bool:
            try:
                socket.create_connection((site.host, site.port), timeout=5).close()
            except ConnectionRefusedError:
                return True
            return False

        # New connections are refused while the in-flight requests still run.
        assert wait_until(refused, 15), daphne.lines[-20:]
        responses = [future.result(timeout=CLIENT_TIMEOUT) for future in futures]
    assert [r.status_code for r in responses] == [200, 200, 200], daphne.lines[-20:]
    assert all(r.text.startswith("slow ") for r in responses)
    code = daphne.wait(60)
    assert code == 0, daphne.lines[-20:]
    assert time.monotonic() - signalled < 40 + 30


class Traffic:
    """Send requests in a few client threads and tally each outcome over time."""

    def __init__(self, site: Site, clients: int = 2) -> None:
        self.site = site
        self.outcomes: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = httpx.get(self.site.url + "/hello", timeout=20)
                outcome = "ok" if response.status_code == 200 else f"http {response.status_code}"
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            self.outcomes.append((time.monotonic(), outcome))
            time.sleep(0.05)

    def since(self, moment: float) -> collections.Counter[str]:
        return collections.Counter(o for t, o in self.outcomes if t >= moment)

    def between(self, start: float, end: float) -> collections.Counter[str]:
        return collections.Counter(o for t, o in self.outcomes if start <= t < end)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


def _oks_since(traffic: Traffic, moment: float, count: int) -> bool:
    return traffic.since(moment)["ok"] >= count


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    require_redis()  # the same installation check; the shared server is not touched
    server = OwnRedis()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


def _restart_under_load(
    site: Site, server: OwnRedis | OwnRabbit, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run traffic, crash and restart ``server``, and require recovery without restarts."""
    try:
        daphne = site.start_daphne("--http-timeout", "8")
        worker = site.start_worker(threads=2)
        traffic = Traffic(site)
        try:
            started = time.monotonic()
            assert wait_until(lambda: _oks_since(traffic, started, 10), 60), site.output()
            outage = time.monotonic()
            server.stop()
            time.sleep(3)
            server.start()
            back = time.monotonic()
            recovered = wait_until(lambda: _oks_since(traffic, back, 20), 120)
        finally:
            traffic.stop()
        report = traffic.between(outage, back)
        with capsys.disabled():  # the operator-facing loss report, shown even on success
            print(
                f"\n{name} restart: before {dict(traffic.between(started, outage))}, "
                f"during the {back - outage:.1f}s outage {dict(report)}, "
                f"after {dict(traffic.since(back))}"
            )
        assert recovered, (dict(traffic.since(back)), site.output())
        assert daphne.popen.poll() is None and worker.popen.poll() is None, site.output()
    finally:
        site.close()


def test_redis_restart_under_load_recovers_without_restarting_anything(
    own_redis: OwnRedis, capsys: pytest.CaptureFixture[str]
) -> None:
    _restart_under_load(Site(redis_hosts=[own_redis.url]), own_redis, "Redis", capsys)


@pytest.mark.skipif(
    os.environ.get("STACK_SOAK") != "1",
    reason="two RabbitMQ node start-ups take most of a minute; `make soak` (stack/soak.py) runs it",
)
def test_rabbitmq_restart_under_load_recovers_without_restarting_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    node = OwnRabbit()
    try:
        node.start()
        _restart_under_load(Site(layer="rabbitmq", rabbitmq_url=node.url), node, "RabbitMQ", capsys)
    finally:
        node.cleanup()


def test_layer_outage_answers_503_instead_of_dropping_the_connection(
    own_redis: OwnRedis,
) -> None:
    site = Site(redis_hosts=[own_redis.url])
    try:
        daphne = site.start_daphne("--http-timeout", "8")
        own_redis.stop()
        try:
            status: int | str = _get(site, "/hello", timeout=30).status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        assert daphne.popen.poll() is None, site.output()
        assert status == 503, status
    finally:
        site.close()
