"""asgi_redis.testing.RedisServer: a throwaway redis-server that survives restarts on one port."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from asgi_redis import RedisChannelLayer, RedisUnavailableError
from asgi_redis.testing import RedisServer, free_port

from .conftest import OWN_PORTS


def _answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


def test_a_server_stops_and_starts_again_on_the_same_port(tmp_path: Path) -> None:
    with RedisServer(tmp_path, free_port(OWN_PORTS)) as server:
        url = server.url
        layer = RedisChannelLayer(hosts=[url], prefix="testing-helper:")
        try:
            layer.send("c", {"n": 1})
            server.stop()
            assert not _answers(url)
            server.start()
            assert server.url == url and _answers(url)
            # The first call finds its old connection closed; the layer reconnects by itself.
            with pytest.raises(RedisUnavailableError):
                layer.send("c", {"n": 2})
            layer.send("c", {"n": 3})
            assert layer.receive(["c"]) == ("c", {"n": 3})  # nothing was saved across the restart
        finally:
            layer.close()
        server.stop()
        server.stop()  # stopping twice is harmless
    assert not _answers(url)


def test_a_server_that_cannot_start_says_so(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, free_port(OWN_PORTS), "--no-such-option", "1")
    with pytest.raises(RuntimeError, match=f"redis-server on port {server.port} did not start"):
        server.start(timeout=5)
    assert server.process is None


def test_free_port_reports_when_none_is_free(tmp_path: Path) -> None:
    with RedisServer(tmp_path, free_port(OWN_PORTS)) as server:
        with pytest.raises(RuntimeError, match="no free port"):
            free_port([server.port])
