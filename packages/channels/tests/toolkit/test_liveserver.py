"""ChannelLiveServerTestCase for real: a project's suite run by Django's test runner.

``channels_livesite`` has its own settings (a file SQLite database, a Redis or
IPC layer whose CONFIG is unusable so only TEST_CONFIG works), so its suite runs
in a subprocess, exactly as ``manage.py test`` would run it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from channels.test import ChannelLiveServerTestCase
from django.core.exceptions import ImproperlyConfigured

HERE = Path(__file__).resolve().parent
REDIS_URL = os.environ.get("ASGI_REDIS_URL", "redis://127.0.0.1:16379/0")


def _require_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=5).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.parametrize("layer", ["redis", "ipc"])
def test_live_server_suite_passes(layer: str, tmp_path: Path) -> None:
    if layer == "redis":
        _require_redis()
    prefix = f"live{secrets.token_hex(4)}"
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="channels_livesite.settings",
        CHANNELS_LIVESITE_DIR=str(tmp_path),
        CHANNELS_LIVESITE_PREFIX=prefix,
        CHANNELS_LIVESITE_LAYER=layer,
        PYTHONPATH=str(HERE),
    )
    try:
        run = subprocess.run(
            [sys.executable, "-m", "django", "test", "channels_livesite.tests", "-v", "2"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        if layer == "ipc":
            subprocess.run(
                [sys.executable, "-m", "asgi_ipc", "remove", "--prefix", prefix],
                capture_output=True,
                timeout=60,
            )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "Ran 5 tests" in output, output
    pids = [int(line) for line in (tmp_path / "pids.txt").read_text().split()]
    assert len(pids) == 4, pids  # Daphne and a worker for each of the two classes
    assert not [pid for pid in pids if _alive(pid)], "server processes were left running"


def test_live_server_refuses_the_in_memory_database() -> None:
    with pytest.raises(ImproperlyConfigured, match="in-memory SQLite database 'default'"):
        ChannelLiveServerTestCase._live_environment()


def test_live_server_refuses_the_in_memory_layer() -> None:
    with pytest.raises(ImproperlyConfigured, match="needs a channel layer that spans processes"):
        ChannelLiveServerTestCase._install_test_layer()
