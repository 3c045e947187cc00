"""The unittest way in, with the 1.x attribute names and with a profile."""

from __future__ import annotations

import unittest

import asgiref.conformance
import pytest
from asgi_conformance import ConformanceTestCase, all_checks
from asgi_conformance.unittest_case import method_name
from asgiref.inmemory import ChannelLayer
from conformance_doubles import KeepsDiscardedLayer, clocked_profile


class TestInMemoryWith1xAttributes(ConformanceTestCase):
    """A 1.x-style subclass: a shared instance, real time, expiry_delay and capacity_limit."""

    channel_layer = ChannelLayer(expiry=1, group_expiry=2, capacity=5, receive_timeout=1)
    expiry_delay = 1
    capacity_limit = 5


class TestInMemoryWithProfile(ConformanceTestCase):
    """A subclass giving a profile with a clock hook (fresh layer per test)."""

    profile = clocked_profile()


class KeepsDiscardedCase(ConformanceTestCase):
    """Not collected by pytest; run below through unittest."""

    __test__ = False

    profile = clocked_profile(KeepsDiscardedLayer)
    expected_failures = {"groups.send": "ignores group_discard"}


def test_asgiref_conformance_reexports_the_case() -> None:
    assert asgiref.conformance.ConformanceTestCase is ConformanceTestCase


def test_every_check_is_a_test_method() -> None:
    for item in all_checks():
        assert callable(getattr(ConformanceTestCase, method_name(item.id)))
    assert method_name("core.send_receive") == "test_core_send_receive"


def test_expected_failure_and_real_failure_are_reported_by_unittest() -> None:
    suite = unittest.TestSuite(
        [
            KeepsDiscardedCase("test_groups_send"),
            KeepsDiscardedCase("test_groups_channels"),
            KeepsDiscardedCase("test_core_send_receive"),
        ]
    )
    result = unittest.TestResult()
    suite.run(result)
    assert len(result.expectedFailures) == 1
    assert [str(test).split()[0] for test, _ in result.failures] == ["test_groups_channels"]
    assert result.testsRun == 3 and not result.errors


def test_missing_layer_and_expiry_are_clear_errors() -> None:
    class NoLayer(ConformanceTestCase):
        __test__ = False

    class NoExpiry(ConformanceTestCase):
        __test__ = False
        channel_layer = object()

    result = unittest.TestResult()
    unittest.TestSuite([NoLayer("test_core_send_receive"), NoExpiry("test_core_send_receive")]).run(
        result
    )
    messages = [text for _test, text in result.errors]
    assert "must set 'channel_layer'" in messages[0]
    assert "must set 'expiry_delay'" in messages[1]


def test_unknown_expected_failure_id_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"unknown check 'core\.nope'"):

        class Bad(ConformanceTestCase):
            __test__ = False
            expected_failures = {"core.nope": "typo"}


def test_base_class_is_skipped_when_run_directly() -> None:
    result = unittest.TestResult()
    unittest.TestSuite([ConformanceTestCase("test_core_send_receive")]).run(result)
    assert result.skipped
