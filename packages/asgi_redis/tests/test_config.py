"""Settings are checked up front; names map to shards by consistent hashing."""

from __future__ import annotations

import fnmatch
import re
from collections import Counter

import pytest
from asgi_redis import RedisChannelLayer, RedisSentinelChannelLayer
from asgi_redis._config import glob_to_lua, jump_hash, normalize_hosts, redact_url


def test_default_host_is_localhost() -> None:
    assert normalize_hosts(None) == ["redis://localhost:6379/0"]


def test_urls_and_pairs_are_accepted() -> None:
    assert normalize_hosts(
        ["redis://:pw@h1:1/2", ("h2", 6380), "rediss://h3:6390/0", "unix:///tmp/r.sock"]
    ) == ["redis://:pw@h1:1/2", "redis://h2:6380/0", "rediss://h3:6390/0", "unix:///tmp/r.sock"]
    assert normalize_hosts("redis://single:6379/0") == ["redis://single:6379/0"]
    assert normalize_hosts(("pair", 1)) == ["redis://pair:1/0"]


@pytest.mark.parametrize(
    ("hosts", "named"),
    [
        (["http://h:1"], "'http'"),
        (["redis://h:99999"], "99999"),
        (["redis://h:1/x"], "'x'"),
        ([("h", "6379")], "'6379'"),
        ([("h", 0)], "0"),
        ([42], "42"),
        ([], "empty"),
        (["redis://h:1/0", "redis://h:1/0"], "twice"),
        ({"h": 1}, "{'h': 1}"),
    ],
)
def test_bad_hosts_raise_value_error_naming_the_value(hosts: object, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        normalize_hosts(hosts)


def test_passwords_are_redacted_in_messages() -> None:
    assert redact_url("redis://user:secret@h:1/0") == "redis://user:***@h:1/0"
    with pytest.raises(ValueError) as info:
        normalize_hosts(["redis://user:secret@h:1/x"])
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("prefix", ""),
        ("prefix", "has space"),
        ("stats_prefix", 3),
        ("receive_timeout", 0),
        ("receive_timeout", True),
        ("connection_kwargs", ["socket_timeout"]),
        ("symmetric_encryption_keys", "one-key-not-a-list"),
        ("symmetric_encryption_keys", []),
        ("symmetric_encryption_keys", [""]),
        ("capacity", 0),
        ("expiry", -1),
    ],
)
def test_bad_options_raise_value_error(option: str, value: object) -> None:
    with pytest.raises(
        ValueError,
        match=re.escape(repr(value))
        if option != "symmetric_encryption_keys"
        else "symmetric_encryption_keys",
    ):
        RedisChannelLayer(hosts=["redis://127.0.0.1:1/0"], **{option: value})


def test_socket_timeout_must_outlast_blocking_receive() -> None:
    with pytest.raises(ValueError, match="socket_timeout"):
        RedisChannelLayer(
            hosts=["redis://127.0.0.1:1/0"],
            receive_timeout=5,
            connection_kwargs={"socket_timeout": 2},
        )


def test_sentinel_addresses_are_checked() -> None:
    with pytest.raises(ValueError, match="nohost"):
        RedisSentinelChannelLayer(hosts=["nohost"], services=["x"])
    with pytest.raises(ValueError, match="services"):
        RedisSentinelChannelLayer(hosts=[("h", 1)], services=[""])
    with pytest.raises(ValueError, match="sentinel_refresh_interval"):
        RedisSentinelChannelLayer(hosts=[("h", 1)], services=["x"], sentinel_refresh_interval=-1)


def test_jump_hash_is_stable_and_spreads_names() -> None:
    names = [f"daphne.response.{index}!" for index in range(2000)]
    first = [jump_hash(name, 2) for name in names]
    assert first == [jump_hash(name, 2) for name in names]
    counts = Counter(first)
    assert set(counts) == {0, 1}
    assert min(counts.values()) > 800
    # Adding a third shard moves only names that go to the new shard.
    for name, old in zip(names, first, strict=True):
        new = jump_hash(name, 3)
        assert new in (old, 2)


@pytest.mark.parametrize(
    "glob",
    ["http.request", "http.*", "daphne.response.*!", "a?c", "x[abc]y", "x[!abc]y", "web-[a-c]*"],
)
def test_globs_translate_to_equivalent_lua_patterns(glob: str) -> None:
    pattern = glob_to_lua(glob)
    assert pattern is not None
    lua_as_regex = (
        pattern.replace("%.", r"\.").replace("%-", r"\-").replace("%!", "!").replace("%?", r"\?")
    )
    lua_as_regex = lua_as_regex.replace("[^", "[^").rstrip("$") + r"\Z"
    samples = [
        "http.request",
        "http.response!x",
        "daphne.response.ab!",
        "abc",
        "aXc",
        "xay",
        "xdy",
        "web-b1",
        "web-d1",
        "http.",
        "x!y",
    ]
    for sample in samples:
        assert bool(re.match(lua_as_regex, sample)) == fnmatch.fnmatchcase(sample, glob), sample
