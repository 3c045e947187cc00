"""The Sentinel layer: masters found through Sentinel, failover survived."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from asgi_redis import RedisSentinelChannelLayer, RedisUnavailableError
from asgi_redis.testing import RedisServer, free_port

from .conftest import OWN_PORTS, SENTINEL, SENTINEL_SERVICE


def _require_sentinel() -> None:
    host, port = SENTINEL.rsplit(":", 1)
    try:
        redis.Redis(host=host, port=int(port), socket_connect_timeout=2).ping()
    except redis.ConnectionError as exc:
        import os

        message = f"Sentinel at {SENTINEL} is unreachable ({exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def test_layer_finds_the_master_through_the_shared_sentinel(prefix: str) -> None:
    _require_sentinel()
    layer = RedisSentinelChannelLayer(hosts=[SENTINEL], services=[SENTINEL_SERVICE], prefix=prefix)
    try:
        layer.send("c", {"via": "sentinel"})
        layer.group_add("g", "c")
        assert layer.receive(["c"], block=True) == ("c", {"via": "sentinel"})
        assert layer.group_channels("g") == ["c"]
        assert SENTINEL_SERVICE in repr(layer) or "Sentinel" in layer._describe_shard(0)
    finally:
        layer.flush()
        layer.close()


def test_services_default_to_every_monitored_master(prefix: str) -> None:
    _require_sentinel()
    layer = RedisSentinelChannelLayer(hosts=[SENTINEL], prefix=prefix)
    try:
        assert SENTINEL_SERVICE in layer.services
    finally:
        layer.close()


class _Sentinel:
    def __init__(self, directory: Path, master_port: int) -> None:
        self.port = free_port(OWN_PORTS)
        self.config = directory / "sentinel.conf"
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor svc 127.0.0.1 {master_port} 1\n"
            "sentinel down-after-milliseconds svc 1000\n"
            "sentinel failover-timeout svc 5000\n"
        )
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [binary, str(self.config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = redis.Redis(port=self.port, socket_connect_timeout=1, decode_responses=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.client.sentinel_master("svc"):
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


@pytest.fixture
def failover_setup(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer, _Sentinel]]:
    (tmp_path / "master").mkdir()
    (tmp_path / "replica").mkdir()
    (tmp_path / "sentinel").mkdir()
    master = RedisServer(tmp_path / "master", free_port(OWN_PORTS))
    master.start()
    replica = RedisServer(
        tmp_path / "replica", free_port(OWN_PORTS), "--replicaof", "127.0.0.1", str(master.port)
    )
    replica.start()
    sentinel = _Sentinel(tmp_path / "sentinel", master.port)
    try:
        yield master, replica, sentinel
    finally:
        sentinel.stop()
        replica.stop()
        master.stop()


def _wait_for_replication(replica: RedisServer) -> None:
    client = redis.Redis(port=replica.port, decode_responses=True)
    deadline = time.monotonic() + 60
    while client.info("replication").get("master_link_status") != "up":
        if time.monotonic() > deadline:
            raise RuntimeError("replica never synced")
        time.sleep(0.1)


def _retry(call: Any) -> Any:
    deadline = time.monotonic() + 60
    while True:
        try:
            return call()
        except RedisUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("refresh", [0, 0.5])
def test_layer_follows_a_sentinel_failover(
    failover_setup: tuple[RedisServer, RedisServer, _Sentinel], prefix: str, refresh: float
) -> None:
    master, replica, sentinel = failover_setup
    _wait_for_replication(replica)
    layer = RedisSentinelChannelLayer(
        hosts=[("127.0.0.1", sentinel.port)],
        services=["svc"],
        prefix=prefix,
        sentinel_refresh_interval=refresh,
    )
    layer.send("c", {"n": 1})
    assert layer.receive(["c"]) == ("c", {"n": 1})
    sentinel.client.execute_command("SENTINEL", "FAILOVER", "svc")
    deadline = time.monotonic() + 60
    while int(sentinel.client.sentinel_get_master_addr_by_name("svc")[1]) != replica.port:
        assert time.monotonic() < deadline, "Sentinel never promoted the replica"
        time.sleep(0.1)
    # Wait until the roles have swapped (writes in between may land on the old master,
    # which is Redis' own failover window, not the layer's).
    new_master = redis.Redis(port=replica.port, decode_responses=True)
    old_master = redis.Redis(port=master.port, decode_responses=True)
    while (
        new_master.info("replication")["role"] != "master"
        or old_master.info("replication")["role"] != "slave"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    _retry(lambda: layer.send("c", {"n": 2}))
    assert _retry(lambda: layer.receive(["c"], block=True)) == ("c", {"n": 2})
    assert new_master.exists(f"{prefix}q:c") == 0
    layer.send("c", {"n": 3})
    assert new_master.exists(f"{prefix}q:c") == 1
    layer.close()
