"""A real ``manage.py rundelay`` process on the shared Redis layer, stopped by signal."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REDIS_URL = os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")
HERE = Path(__file__).resolve().parent
TIMEOUT = 60


@pytest.fixture
def redis_layer() -> Iterator[tuple[Any, str]]:
    """Return a Redis layer with a fresh prefix; skip if Redis is down (fail when CI=true)."""
    import redis
    from asgi_redis import RedisChannelLayer

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=5).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    prefix = f"chdelay{uuid.uuid4().hex[:10]}:"
    layer = RedisChannelLayer(hosts=[REDIS_URL], prefix=prefix, receive_timeout=1.0)
    try:
        yield layer, prefix
    finally:
        layer.flush()
        layer.close()


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a migrated SQLite file to copy for each test (migrating takes a while)."""
    database = tmp_path_factory.mktemp("delay-db") / "template.sqlite3"
    migrate = subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput"],
        env=_environment("unused:", database),
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 3,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    return database


def _database(template: Path, tmp_path: Path) -> Path:
    database = tmp_path / "delay.sqlite3"
    shutil.copyfile(template, database)
    return database


def _environment(prefix: str, database: Path) -> dict[str, str]:
    env = dict(os.environ, CHANNELS_TEST_PREFIX=prefix, ASGI_REDIS_URL=REDIS_URL)
    env["CHANNELS_DELAY_DB"] = str(database)
    env["DJANGO_SETTINGS_MODULE"] = "delay_settings"
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _start_rundelay(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``rundelay --sleep 0.5 -v 2`` logging into ``log``; wait until it runs."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "django", "rundelay", "--sleep", "0.5", "-v", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + TIMEOUT
    try:
        while "Running the delay server" not in log.read_text():
            assert process.poll() is None, f"rundelay exited early:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"rundelay did not start:\n{log.read_text()}"
            time.sleep(0.05)
    except BaseException:
        _stop(process, signal.SIGKILL)
        raise
    return process


def _receive(layer: Any, channel: str) -> tuple[dict[str, Any], float]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        name, content = layer.receive([channel], block=True)
        if name is not None:
            return dict(content), time.monotonic()
    raise AssertionError(f"nothing arrived on {channel} within {TIMEOUT}s")


def _stop(process: subprocess.Popen[bytes], signo: int) -> int:
    if process.poll() is None:
        os.kill(process.pid, signo)
    try:
        return process.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(TIMEOUT)
        raise AssertionError(f"rundelay did not stop on signal {signo}") from None


@pytest.mark.services
@pytest.mark.slow
def test_rundelay_delivers_after_the_delay_and_stops_on_sigterm(
    redis_layer: tuple[Any, str], migrated_database: Path, tmp_path: Path
) -> None:
    layer, prefix = redis_layer
    log = tmp_path / "rundelay.log"
    env = _environment(prefix, _database(migrated_database, tmp_path))
    process = _start_rundelay(env, log)
    try:
        layer.send("asgi.delay", {"channel": "bad name!", "content": {}, "delay": 1})
        sent = {}
        for delay in (0, 400, 1500):
            sent[delay] = time.monotonic()
            layer.send(
                "asgi.delay",
                {
                    "channel": f"delayed.{delay}",
                    "content": {"d": delay, "b": b"\x00"},
                    "delay": delay,
                },
            )
        lateness = []
        for delay in (0, 400, 1500):
            content, arrived = _receive(layer, f"delayed.{delay}")
            assert content == {"d": delay, "b": b"\x00"}
            waited = arrived - sent[delay]
            assert waited >= delay / 1000, f"delivered after {waited:.3f}s, before its delay"
            assert waited < delay / 1000 + 30, f"delivered {waited:.1f}s after being sent"
            lateness.append(waited - delay / 1000)
        print("rundelay lateness (s, incl. Redis round trips):", [f"{x:.3f}" for x in lateness])
    finally:
        code = _stop(process, signal.SIGTERM)
    output = log.read_text()
    assert code == 0, output
    assert "Skipping a malformed asgi.delay message" in output
    assert "Delay server stopped" in output


@pytest.mark.services
@pytest.mark.slow
def test_rundelay_keeps_undelivered_messages_and_stops_on_sigint(
    redis_layer: tuple[Any, str], migrated_database: Path, tmp_path: Path
) -> None:
    layer, prefix = redis_layer
    env = _environment(prefix, _database(migrated_database, tmp_path))
    process = _start_rundelay(env, tmp_path / "first.log")
    try:
        layer.send("asgi.delay", {"channel": "later", "content": {"kept": True}, "delay": 3000})
        # Wait until it is stored, then stop the server before it is due.
        deadline = time.monotonic() + TIMEOUT
        while "Delaying a message for later" not in (tmp_path / "first.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "first.log").read_text()
            time.sleep(0.05)
    finally:
        code = _stop(process, signal.SIGINT)
    assert code == 0
    # A new server finds the stored message in the database and sends it when due.
    process = _start_rundelay(env, tmp_path / "second.log")
    try:
        content, _arrived = _receive(layer, "later")
        assert content == {"kept": True}
    finally:
        assert _stop(process, signal.SIGTERM) == 0
