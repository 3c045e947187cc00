"""Check layer settings and map names to shards.

``hosts`` entries become ``redis://``/``rediss://``/``unix://`` URLs, validated up
front so a typo fails at start-up with the offending value, not at the first
send. Names are pinned to shards with jump consistent hashing (Lamping and
Veach), so adding a shard at the end moves only about 1/n of the names.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = [
    "DEFAULT_HOST",
    "glob_to_lua",
    "jump_hash",
    "normalize_hosts",
    "redact_url",
]

DEFAULT_HOST = "redis://localhost:6379/0"
_SCHEMES = ("redis", "rediss", "unix")
_LUA_MAGIC = set("^$()%.[]*+-?")


def normalize_hosts(hosts: object) -> list[str]:
    """Return ``hosts`` as a list of Redis URLs; raise ValueError naming a bad entry."""
    if hosts is None:
        return [DEFAULT_HOST]
    if isinstance(hosts, str | tuple) and _looks_like_one_host(hosts):
        hosts = [hosts]
    if not isinstance(hosts, Iterable) or isinstance(hosts, str | bytes | Mapping):
        raise ValueError(
            f"hosts is {hosts!r}; it must be a list of 'redis://host:port/db' URLs or "
            "(host, port) pairs, e.g. ['redis://localhost:6379/0']."
        )
    urls = [_normalize_host(entry) for entry in hosts]
    if not urls:
        raise ValueError("hosts is empty; give at least one Redis URL or (host, port) pair.")
    if len(set(urls)) != len(urls):
        raise ValueError(f"hosts lists the same server twice: {hosts!r}; list each shard once.")
    return urls


def _looks_like_one_host(hosts: str | tuple[Any, ...]) -> bool:
    if isinstance(hosts, str):
        return True
    return len(hosts) == 2 and isinstance(hosts[0], str) and isinstance(hosts[1], int)


def _normalize_host(entry: object) -> str:
    if isinstance(entry, str):
        return _check_url(entry)
    if isinstance(entry, tuple | list) and len(entry) == 2:
        host, port = entry
        if not isinstance(host, str) or not host:
            raise ValueError(f"hosts entry {entry!r} has host {host!r}; it must be a hostname.")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(
                f"hosts entry {entry!r} has port {port!r}; it must be an int from 1 to 65535."
            )
        return f"redis://{quote(host, safe='.:-[]')}:{port}/0"
    raise ValueError(
        f"hosts entry {entry!r} is not a Redis URL or a (host, port) pair; use e.g. "
        "'redis://localhost:6379/0' or ('localhost', 6379)."
    )


def _check_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"hosts entry {redact_url(url)!r} is not a valid URL: {exc}.") from exc
    if parts.scheme not in _SCHEMES:
        raise ValueError(
            f"hosts entry {redact_url(url)!r} has scheme {parts.scheme!r}; use redis://, "
            "rediss:// (TLS) or unix://."
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError(
                f"hosts entry {redact_url(url)!r} has no socket path; use "
                "unix:///path/to/redis.sock."
            )
        return url
    if not parts.hostname:
        raise ValueError(f"hosts entry {redact_url(url)!r} has no host name.")
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"hosts entry {redact_url(url)!r} has port {port}, out of range.")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ValueError(
            f"hosts entry {redact_url(url)!r} has database {db!r}; it must be a number, "
            "as in redis://localhost:6379/0."
        )
    return url


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


@functools.lru_cache(maxsize=65536)
def jump_hash(name: str, buckets: int) -> int:
    """Return the shard (0 to ``buckets - 1``) that ``name`` is pinned to."""
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
    bucket, candidate = -1, 0
    while candidate < buckets:
        bucket = candidate
        key = (key * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        candidate = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def glob_to_lua(glob: str) -> str | None:
    """Translate an fnmatch glob into an anchored Lua pattern, or None if it cannot be."""
    out = ["^"]
    index = 0
    while index < len(glob):
        char = glob[index]
        index += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            end = index
            if end < len(glob) and glob[end] == "!":
                end += 1
            if end < len(glob) and glob[end] == "]":
                end += 1
            end = glob.find("]", end)
            if end < 0:
                out.append("%[")
                continue
            body = glob[index:end]
            index = end + 1
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            if not re.fullmatch(r"[A-Za-z0-9_.!?\-]*", body):
                return None
            chars = body.replace("%", "%%").replace("]", "%]")
            out.append("[" + ("^" if negate else "") + chars + "]")
        elif char in _LUA_MAGIC:
            out.append("%" + char)
        else:
            out.append(char)
    out.append("$")
    return "".join(out)
