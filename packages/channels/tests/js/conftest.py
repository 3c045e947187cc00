"""Fixtures for the JavaScript bridge tests: a real headless Chromium and a small WS server.

Chromium is Debian's package (``scripts/browser.sh`` installs it when missing),
driven by Playwright with an explicit executable path: Playwright never
downloads a browser here. Without a browser the tests skip, except under
``CI=true`` where they fail. The helpers themselves live in bridge_harness.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

# Make bridge_harness importable by the test modules (pytest runs with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bridge_harness import CHROMIUM_ARGS, REPO_ROOT, BridgePage, BridgeServer


def _unavailable(message: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Return the path of Debian's chromium, installing it via scripts/browser.sh when missing."""
    script = REPO_ROOT / "scripts" / "browser.sh"
    result = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=900, check=False
    )
    path = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0 or not path or not os.access(path, os.X_OK):
        _unavailable(f"no Chromium for the browser tests: {result.stderr.strip() or 'not found'}")
    return path


@pytest.fixture(scope="session")
def browser_context(chromium_path: str) -> Iterator[Any]:
    """Yield one headless Chromium context (temporary profile) for the whole session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - playwright is a dev dependency
        _unavailable(f"playwright is not installed: {exc}")
    profile = tempfile.mkdtemp(prefix="channels-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=chromium_path,
                headless=True,
                args=CHROMIUM_ARGS,
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    """Yield a fresh page; uncaught exceptions and console warnings are collected on it."""
    new_page = browser_context.new_page()
    new_page.page_errors = []
    new_page.console_errors = []
    new_page.console_warnings = []
    new_page.console_logs = []
    new_page.on(
        "console",
        lambda msg: (
            new_page.console_errors.append(msg.text)
            if msg.type == "error"
            else new_page.console_warnings.append(msg.text)
            if msg.type == "warning"
            else new_page.console_logs.append(msg.text)
        ),
    )
    new_page.on("pageerror", lambda exc: new_page.page_errors.append(str(exc)))
    try:
        yield new_page
    finally:
        new_page.close()


@pytest.fixture
def server() -> Iterator[BridgeServer]:
    """Yield a running BridgeServer on a free port of 127.0.0.1."""
    bridge_server = BridgeServer()
    bridge_server.start()
    try:
        yield bridge_server
    finally:
        bridge_server.shutdown()


@pytest.fixture
def bridge_page(page: Any) -> BridgePage:
    """Return a BridgePage helper over a fresh browser page."""
    return BridgePage(page)
