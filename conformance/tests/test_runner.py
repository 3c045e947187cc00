"""The command line: targets, options, report format and exit status."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest
from asgi_conformance import all_checks
from asgi_conformance.runner import main
from conformance_doubles import TESTS_DIR

SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$")


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def test_inmemory_class_passes_as_make_test_runs_it() -> None:
    """The layers.conf line `asgiref.inmemory:ChannelLayer|` passes in a subprocess."""
    env = {**os.environ, "PYTHONPATH": str(TESTS_DIR)}
    completed = subprocess.run(
        [sys.executable, "-m", "asgi_conformance", "asgiref.inmemory:ChannelLayer"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    summary = SUMMARY.match(lines[-1])
    assert summary, lines[-1]
    assert summary.group(2) == "0"
    assert int(summary.group(1)) + int(summary.group(3)) == len(all_checks())
    assert "expiry=1, group_expiry=3, capacity=20" in lines[0]
    for item in all_checks():
        assert any(re.match(rf"^{re.escape(item.id)}\s+(pass|skip)\b", line) for line in lines)


def test_broken_layer_class_fails_with_exit_status_one() -> None:
    status, out = run(
        "conformance_doubles:DropsMessagesLayer",
        "--config",
        '{"receive_timeout": 1}',
        "--only",
        "core.*",
    )
    assert status == 1
    assert re.search(r"^core\.send_receive_several\s+fail\s+\S", out, re.MULTILINE)
    summary = SUMMARY.match(out.splitlines()[-1])
    assert summary and int(summary.group(2)) >= 1


def test_config_json_is_passed_to_the_class_over_the_test_settings() -> None:
    status, out = run(
        "asgiref.inmemory:ChannelLayer",
        "--config",
        '{"capacity": 7, "receive_timeout": 1}',
        "--only",
        "capacity.channel",
    )
    assert status == 0, out
    assert "capacity=7" in out.splitlines()[0]
    assert out.splitlines()[-1] == "1 passed, 0 failed, 0 skipped"


def test_instance_target_runs_with_its_own_settings_and_says_so() -> None:
    status, out = run(
        "asgiref.inmemory:channel_layer", "--only", "expiry.*", "--only", "core.send*"
    )
    assert status == 0, out
    assert "note: running with the layer's own settings (expiry 60 s" in out
    assert re.search(r"^expiry\.message\s+skip\s+expiry is 60 s", out, re.MULTILINE)
    assert out.splitlines()[-1] == "2 passed, 0 failed, 3 skipped"


def test_profile_target_counts_expected_failures_as_skipped() -> None:
    status, out = run("conformance_doubles:broken_profile", "--only", "core.send_receive_several")
    assert status == 0, out
    assert "expected failure (drops every second message)" in out
    assert out.splitlines()[-1] == "0 passed, 0 failed, 1 skipped"


def test_receive_tries_option_reaches_the_profile() -> None:
    status, out = run(
        "asgiref.inmemory:ChannelLayer", "--receive-tries", "3", "--only", "core.send_receive"
    )
    assert status == 0
    assert "receive_tries=3" in out.splitlines()[0]


def test_model_option_runs_the_state_machine() -> None:
    status, out = run(
        "conformance_doubles:model_profile", "--only", "core.receive_empty", "--model"
    )
    assert status == 0, out
    assert re.search(r"^model\s+pass$", out, re.MULTILINE)
    assert out.splitlines()[-1] == "1 passed, 0 failed, 0 skipped"
    status, out = run(
        "conformance_doubles:broken_model_profile", "--only", "core.receive_empty", "--model"
    )
    assert status == 1, out
    assert re.search(r"^model\s+fail\s+\S", out, re.MULTILINE)
    status, out = run("asgiref.inmemory:ChannelLayer", "--only", "core.receive_empty", "--model")
    assert status == 0, out
    assert re.search(r"^model\s+skip\s+messages or memberships would expire", out, re.MULTILINE)


def test_list_prints_every_check_id_with_its_summary() -> None:
    status, out = run("--list")
    assert status == 0
    listed = [line.split()[0] for line in out.splitlines()]
    assert listed == [item.id for item in all_checks()]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["no_colon"], "must look like 'module:attr'"),
        (["no_such_module_xyz:Layer"], "Cannot import module 'no_such_module_xyz'"),
        (["asgiref.inmemory:Missing"], "has no attribute 'Missing'"),
        (["asgiref.inmemory:ChannelLayer", "--config", "{bad"], "--config is not valid JSON"),
        (["asgiref.inmemory:ChannelLayer", "--config", "[1]"], "must be a JSON object"),
        (["asgiref.inmemory:ChannelLayer", "--config", '{"nope": 1}'], "Cannot build"),
        (["asgiref.inmemory:channel_layer", "--config", '{"capacity": 1}'], "only applies"),
        (["asgiref.inmemory:ChannelLayer", "--only", "zzz.*"], "matches no check id"),
        (["asgiref.inmemory:ChannelLayer", "--receive-tries", "0"], "must be at least 1"),
        (["asgiref.base_layer:MAX_NAME_LENGTH"], "neither a layer class"),
        ([], "give a target"),
    ],
)
def test_bad_command_lines_exit_two_with_a_clear_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        main(argv, out=io.StringIO())
    assert exc_info.value.code == 2
    assert message in capsys.readouterr().err
