"""The Redis channel layer with its masters found through Redis Sentinel.

How this works
--------------
Each Sentinel *service* (a monitored master) is one shard. Connections come
from redis-py's Sentinel connection pools, which ask the Sentinels for the
current master whenever they open a connection. After a failover the old
master turns into a replica and refuses writes; redis-py then drops that
connection, the call fails with :class:`~asgi_redis.RedisUnavailableError`,
and the next call connects to the promoted master. With
``sentinel_refresh_interval`` above zero the layer also asks the Sentinels for
the master address at most that often (checked on calls) and drops pooled
connections at once when it changed, so fewer calls see the failover.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis
import redis.asyncio.sentinel
import redis.sentinel

from ._config import redact_url
from ._errors import unavailable
from .core import RedisChannelLayer

__all__ = ["RedisSentinelChannelLayer"]

logger = logging.getLogger(__name__)

DEFAULT_SENTINEL = ("localhost", 26379)


class RedisSentinelChannelLayer(RedisChannelLayer):
    """Redis channel layer whose shards are the masters of Sentinel services.

    ``hosts`` lists the Sentinels (``(host, port)`` pairs, ``"host:port"`` or
    ``redis://host:port`` strings); ``services`` names the monitored masters to
    shard over (default: every master the Sentinels know, sorted by name).
    """

    def __init__(
        self,
        hosts: Sequence[str | tuple[str, int]] | str | None = None,
        services: Sequence[str] | str | None = None,
        sentinel_refresh_interval: float = 0,
        sentinel_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(services, str):
            services = [services]
        if services is not None and (
            not services or not all(isinstance(name, str) and name for name in services)
        ):
            raise ValueError(
                f"services is {services!r}; it must be a list of Sentinel service names such "
                "as ['mymaster'], or None to use every master the Sentinels monitor."
            )
        if (
            isinstance(sentinel_refresh_interval, bool)
            or not isinstance(sentinel_refresh_interval, int | float)
            or sentinel_refresh_interval < 0
        ):
            raise ValueError(
                f"sentinel_refresh_interval is {sentinel_refresh_interval!r}; it must be a "
                "number of seconds, 0 or more."
            )
        if sentinel_kwargs is not None and not isinstance(sentinel_kwargs, Mapping):
            raise ValueError(f"sentinel_kwargs is {sentinel_kwargs!r}; it must be a dict.")
        self.services: list[str] = list(services) if services is not None else []
        self.sentinel_refresh_interval = float(sentinel_refresh_interval)
        self.sentinel_kwargs = dict(sentinel_kwargs or {})
        self._masters: dict[int, tuple[str, int] | None] = {}
        self._next_refresh = 0.0
        self._refresh_lock = threading.Lock()
        super().__init__(hosts=hosts, **kwargs)

    # Hooks into RedisChannelLayer ---------------------------------------------

    def _configure_hosts(self, hosts: Any) -> list[str]:
        self.sentinels = _sentinel_addresses(hosts)
        return [f"redis://{host}:{port}" for host, port in self.sentinels]

    def _make_clients(self) -> list[Any]:
        sentinel_class: Any = redis.sentinel.Sentinel
        self._sentinel: Any = sentinel_class(
            self.sentinels, sentinel_kwargs=self._sentinel_options(), **self.connection_kwargs
        )
        if not self.services:
            self.services = self._discover_services()
        return [
            self._sentinel.master_for(service, redis_class=redis.Redis) for service in self.services
        ]

    def _make_async_clients(self) -> list[Any]:
        sentinel_class: Any = redis.asyncio.sentinel.Sentinel
        sentinel = sentinel_class(
            self.sentinels,
            sentinel_kwargs=self._sentinel_options(),
            **self._async_connection_kwargs(),
        )
        return [
            sentinel.master_for(service, redis_class=redis.asyncio.Redis)
            for service in self.services
        ]

    def _describe_shard(self, shard: int) -> str:
        sentinels = ", ".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"the master of Sentinel service {self.services[shard]!r} (Sentinels {sentinels})"

    def _call(self, shard: int, name: str, now: int, *args: Any) -> Any:
        if self.sentinel_refresh_interval and time.monotonic() >= self._next_refresh:
            self._refresh_masters()
        return super()._call(shard, name, now, *args)

    # Sentinel specifics ---------------------------------------------------------

    def _sentinel_options(self) -> dict[str, Any]:
        options = {
            key: value
            for key, value in self.connection_kwargs.items()
            if key.startswith("socket_") or key == "retry"
        }
        options.update(self.sentinel_kwargs)
        return options

    def _discover_services(self) -> list[str]:
        errors: list[str] = []
        for sentinel in self._sentinel.sentinels:
            try:
                masters: Any = sentinel.sentinel_masters()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                errors.append(str(exc))
                continue
            if masters:
                return sorted(str(name) for name in masters)
        if errors:
            raise unavailable(
                ", ".join(redact_url(url) for url in self.hosts), Exception(errors[0])
            )
        raise ValueError(
            f"The Sentinels at {self.sentinels!r} monitor no masters; give services=[...] or "
            "configure Sentinel to monitor one."
        )

    def _refresh_masters(self) -> None:
        """Drop pooled connections of shards whose master moved."""
        if not self._refresh_lock.acquire(blocking=False):
            return
        try:
            self._next_refresh = time.monotonic() + self.sentinel_refresh_interval
            for shard, service in enumerate(self.services):
                try:
                    address = self._sentinel.discover_master(service)
                except (redis.sentinel.MasterNotFoundError, redis.ConnectionError):
                    continue
                previous = self._masters.get(shard)
                self._masters[shard] = address
                if previous is not None and previous != address:
                    logger.warning(
                        "Sentinel service %s moved from %s to %s; reconnecting",
                        service,
                        previous,
                        address,
                    )
                    self._clients[shard].connection_pool.disconnect()
                    if self._fast is not None:
                        self._fast.close()
        finally:
            self._refresh_lock.release()


def _sentinel_addresses(hosts: object) -> list[tuple[str, int]]:
    if hosts is None:
        return [DEFAULT_SENTINEL]
    if isinstance(hosts, str) or (
        isinstance(hosts, tuple) and len(hosts) == 2 and isinstance(hosts[1], int)
    ):
        hosts = [hosts]
    if not isinstance(hosts, Sequence) or not hosts:
        raise ValueError(
            f"hosts is {hosts!r}; for the Sentinel layer it must list the Sentinels, e.g. "
            "[('localhost', 26379)] or ['localhost:26379']."
        )
    return [_sentinel_address(entry) for entry in hosts]


def _sentinel_address(entry: object) -> tuple[str, int]:
    host: object
    port: object
    if isinstance(entry, str):
        text = entry.split("://", 1)[1] if "://" in entry else entry
        text = text.split("/", 1)[0].rsplit("@", 1)[-1]
        host, _, port_text = text.rpartition(":")
        port = int(port_text) if port_text.isdigit() else None
    elif isinstance(entry, tuple | list) and len(entry) == 2:
        host, port = entry
    else:
        host, port = None, None
    if (
        not isinstance(host, str)
        or not host
        or isinstance(port, bool)
        or not isinstance(port, int)
        or not 0 < port < 65536
    ):
        raise ValueError(
            f"Sentinel address {entry!r} is invalid; use ('host', port) or 'host:port', "
            "e.g. ('localhost', 26379)."
        )
    return host, port
