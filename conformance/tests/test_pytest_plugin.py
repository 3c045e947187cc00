"""The pytest plugin: `pytest --layer-profile module:attr` runs the checks as items."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from asgi_conformance import all_checks
from conformance_doubles import TESTS_DIR


def pytest_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_own.py").write_text(
        "def test_own_test_sees_the_profile(layer_profile):\n"
        "    assert layer_profile.capacity == 10\n"
    )
    env = {**os.environ, "PYTHONPATH": str(TESTS_DIR)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-v",
            "-rA",
            "--rootdir",
            ".",
            *args,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )


def test_inmemory_profile_passes_through_the_plugin(tmp_path: Path) -> None:
    completed = pytest_run(tmp_path, "--layer-profile", "conformance_doubles:inmemory_profile")
    out = completed.stdout
    assert completed.returncode == 0, out + completed.stderr
    passed = re.findall(r"^conformance\[([\w.]+)\] PASSED", out, re.MULTILINE)
    skipped = re.findall(r"^conformance\[([\w.]+)\] SKIPPED", out, re.MULTILINE)
    assert len(passed) + len(skipped) == len(all_checks()) + 1
    assert "model" in passed
    assert sorted(skipped) == ["twisted.receive", "twisted.receive_empty"]
    assert "PASSED test_own.py::test_own_test_sees_the_profile" in out


def test_marker_selects_only_the_suite_and_expected_failures_xfail(tmp_path: Path) -> None:
    completed = pytest_run(
        tmp_path,
        "--layer-profile",
        "conformance_doubles:broken_profile",
        "-m",
        "asgi_conformance",
        "-k",
        "send_receive_several",
    )
    out = completed.stdout
    assert completed.returncode == 0, out + completed.stderr
    assert "XFAIL conformance[core.send_receive_several]" in out
    assert "drops every second message" in out
    assert "test_own_test_sees_the_profile" not in out


def test_failing_check_is_reported_with_its_reason(tmp_path: Path) -> None:
    completed = pytest_run(
        tmp_path,
        "--layer-profile",
        "conformance_doubles:IgnoresCapacityLayer",
        "--layer-config",
        '{"receive_timeout": 1}',
        "-k",
        "capacity.channel]",
    )
    out = completed.stdout
    assert completed.returncode == 1, out + completed.stderr
    assert "capacity.channel failed: send number 21: expected ChannelFull" in out


def test_plugin_is_inert_without_the_option(tmp_path: Path) -> None:
    completed = pytest_run(tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "conformance[" not in completed.stdout
    assert "SKIPPED" in completed.stdout and "no --layer-profile given" in completed.stdout


def test_bad_profile_target_is_a_usage_error(tmp_path: Path) -> None:
    completed = pytest_run(tmp_path, "--layer-profile", "nonexistent_module_q:profile")
    assert completed.returncode == 4
    assert "Cannot import module 'nonexistent_module_q'" in completed.stderr
