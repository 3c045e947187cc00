"""The twisted checks run against a layer that provides receive_twisted."""

from __future__ import annotations

from typing import Any

from asgi_conformance import Status, get_check, run_check
from asgiref.inmemory import ChannelLayer
from conformance_doubles import clocked_profile
from twisted.internet import defer, threads


class TwistedLayer(ChannelLayer):
    """The in-memory layer plus receive_twisted (a blocking receive in a thread)."""

    extensions = [*ChannelLayer.extensions, "twisted"]

    def receive_twisted(self, channels: list[str]) -> defer.Deferred[Any]:
        return threads.deferToThread(self.receive, channels, True)


class NeverFiresLayer(TwistedLayer):
    """receive_twisted returns a Deferred that never fires."""

    def receive_twisted(self, channels: list[str]) -> defer.Deferred[Any]:
        return defer.Deferred()


def test_layer_with_receive_twisted_passes_the_twisted_checks() -> None:
    for check_id in ("twisted.declared", "twisted.receive", "twisted.receive_empty"):
        result = run_check(get_check(check_id), clocked_profile(TwistedLayer))
        assert result.status == Status.PASSED, (check_id, result.reason)


def test_deferred_that_never_fires_fails_twisted_receive_empty() -> None:
    profile = clocked_profile(NeverFiresLayer, block_limit=2.0)
    result = run_check(get_check("twisted.receive_empty"), profile)
    assert result.status == Status.FAILED
    assert "did not return" in result.reason


def test_declaring_twisted_without_receive_twisted_fails_declared() -> None:
    class Liar(ChannelLayer):
        extensions = [*ChannelLayer.extensions, "twisted"]

    result = run_check(get_check("twisted.declared"), clocked_profile(Liar))
    assert result.status == Status.FAILED
