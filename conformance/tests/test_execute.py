"""Running one check: timeouts, broken factories, expected failures, flushing."""

from __future__ import annotations

import time

import pytest
from asgi_conformance import Check, LayerProfile, ManualClock, Status, get_check, run_check
from asgi_conformance.context import CheckContext
from asgiref.inmemory import ChannelLayer


def test_check_that_runs_too_long_fails_instead_of_hanging_the_run() -> None:
    def slow(ctx: CheckContext) -> None:
        time.sleep(3)

    item = Check("core.slow_example", "core", "sleeps", slow)
    result = run_check(item, LayerProfile(factory=ChannelLayer), timeout=0.3)
    assert result.status == Status.FAILED
    assert "did not finish within 0.3 s" in result.reason


def test_factory_error_fails_the_check_with_the_error() -> None:
    def factory() -> ChannelLayer:
        raise ConnectionRefusedError("server down")

    result = run_check(get_check("core.send_receive"), LayerProfile(factory=factory))
    assert result.status == Status.FAILED
    assert result.reason == "ConnectionRefusedError raised: server down"


def test_expected_failure_that_passes_is_a_failure() -> None:
    profile = LayerProfile(
        factory=ChannelLayer, expected_failures={"core.send_receive": "thought broken"}
    )
    result = run_check(get_check("core.send_receive"), profile)
    assert result.status == Status.FAILED
    assert "remove it from expected_failures" in result.reason


def test_shared_instance_is_flushed_before_each_check() -> None:
    layer = ChannelLayer()
    layer.send("leftover", {"n": 1})
    profile = LayerProfile(factory=lambda: layer, reuse=True)
    assert run_check(get_check("core.receive_empty"), profile).status == Status.PASSED
    assert layer.receive(["leftover"]) == (None, None)


def test_missing_settings_skip_with_a_reason() -> None:
    profile = LayerProfile(factory=ChannelLayer)
    result = run_check(get_check("capacity.channel"), profile)
    assert (result.status, result.reason) == (Status.SKIPPED, "the profile gives no capacity")
    result = run_check(get_check("expiry.message"), profile)
    assert (result.status, result.reason) == (Status.SKIPPED, "the profile gives no expiry")


def test_profile_rejects_bad_settings_with_clear_errors() -> None:
    with pytest.raises(ValueError, match="receive_tries is 0"):
        LayerProfile(factory=ChannelLayer, receive_tries=0)
    with pytest.raises(ValueError, match="expiry is -1"):
        LayerProfile(factory=ChannelLayer, expiry=-1)
    with pytest.raises(TypeError, match="factory must be callable"):
        LayerProfile(factory=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backwards"):
        ManualClock().advance(-1)
