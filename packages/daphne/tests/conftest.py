"""Make the test helpers (daphne_harness, echo_app) importable under --import-mode=importlib."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import pytest  # noqa: E402
from daphne_harness import Harness, make_harness  # noqa: E402


@pytest.fixture
def harness() -> Harness:
    """Return a fresh socket-less server harness on a fake clock."""
    return make_harness()
