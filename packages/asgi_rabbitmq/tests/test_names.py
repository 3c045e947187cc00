"""Name mapping onto broker objects (no broker needed)."""

from __future__ import annotations

import pytest
from asgi_rabbitmq._names import Names


def test_process_specific_routing_key_gives_back_the_local_part() -> None:
    names = Names("site")
    exchange, key = names.route("daphne.response.abc!client.1")
    assert exchange == "site.local"
    assert names.channel_from_delivery("daphne.response.abc!", key) == (
        "daphne.response.abc!client.1"
    )


def test_normal_channel_routes_through_the_default_exchange_to_its_queue() -> None:
    names = Names("site.")
    assert names.route("http.request") == ("", "site.http.request")
    assert names.channel_from_delivery("http.request", "site.http.request") == "http.request"


def test_longest_names_fit_in_amqp_short_strings() -> None:
    names = Names("p" * 40)
    group, channel = "g" * 199, "c" * 150 + "!" + "d" * 48
    for name in (
        names.group_exchange(group),
        names.roster_queue(group),
        names.member_queue(group, channel),
        names.queue(channel),
        names.route(channel)[1],
    ):
        assert len(name.encode()) <= 255


@pytest.mark.parametrize("prefix", ["", "amq.x", "p" * 41, "é"])
def test_bad_prefix_is_refused_with_a_clear_error(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        Names(prefix)


def test_group_is_recovered_from_its_exchange() -> None:
    names = Names("asgi")
    assert names.group_of_exchange(names.group_exchange("chat")) == "chat"
    assert names.group_of_exchange("asgi.local") is None


def test_urls_get_a_blocked_connection_timeout_unless_given() -> None:
    from asgi_rabbitmq._link import BLOCKED_CONNECTION_TIMEOUT, parse_urls

    default, explicit = parse_urls(
        ["amqp://a/%2F", "amqps://b/%2F?blocked_connection_timeout=3&heartbeat=30"]
    )
    assert default.blocked_connection_timeout == BLOCKED_CONNECTION_TIMEOUT
    assert explicit.blocked_connection_timeout == 3
    assert explicit.heartbeat == 30
    assert explicit.ssl_options is not None
