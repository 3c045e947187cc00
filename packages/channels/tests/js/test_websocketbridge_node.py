"""Run the bridge's fast node unit tests (node/websocketbridge.test.mjs) under ``node --test``.

They check the back-off, timeout, queueing, URL and demultiplexing rules with a
fake WebSocket and a fake clock. Node comes from PATH or, failing that, from
the copy Playwright ships with its Python package (always installed with the
dev dependencies).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from bridge_harness import STATIC_JS, find_node

NODE_TESTS = Path(__file__).resolve().parent / "node" / "websocketbridge.test.mjs"


def test_node_unit_tests_pass() -> None:
    """Every node:test case for the back-off, URL and demultiplexing logic passes."""
    node = find_node()
    if node is None:
        message = "no node >= 18 on PATH and no Playwright driver node"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    env = {**os.environ, "BRIDGE_JS": str(STATIC_JS / "websocketbridge.js"), "NO_COLOR": "1"}
    result = subprocess.run(
        [node, "--test", str(NODE_TESTS)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Guard against a runner that silently found nothing (or only part) to run.
    counts = dict(re.findall(r"^\S+ (tests|pass|fail) (\d+)$", output, re.MULTILINE))
    assert int(counts["tests"]) >= 20, output
    assert counts["pass"] == counts["tests"] and counts["fail"] == "0", output
