"""Every code sample in docs/ runs: one test per block, pages executed by tests/_snippets.py.

Each page runs in its own interpreter (a fresh Django set up on a scratch copy of
examples/chat); the per-block tests read that run's results. A sample for a
feature that has not landed yet is marked xfail(strict=True) in ``PENDING`` below,
so the mark turns into a failure the day the feature works and must be removed.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOCS = ROOT / "docs"


def _load_snippets() -> Any:
    spec = importlib.util.spec_from_file_location("docs_snippets_runner", HERE / "_snippets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


snippets = _load_snippets()

# (page, block index) -> the issue that brings the missing module.
PENDING: dict[tuple[str, int], str] = {}

PAGES = sorted(DOCS.glob("*.rst"))


def _params() -> list[Any]:
    params = []
    for page in PAGES:
        for block in snippets.blocks(page):
            marks = []
            reason = PENDING.get((page.name, block.index))
            if reason is not None:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            params.append(
                pytest.param(
                    page.name,
                    block.index,
                    id=f"{page.stem}-{block.index}-line{block.line}",
                    marks=marks,
                )
            )
    return params


def _run_page(name: str) -> dict[int, dict[str, Any]] | str:
    """Execute one docs page in a subprocess; return its per-block results or the error."""
    try:
        done = subprocess.run(
            [sys.executable, str(HERE / "_snippets.py"), str(DOCS / name)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired as exc:
        return f"running {name} took longer than {exc.timeout} s:\n{exc.stdout!r:.3000}"
    marker = "@@RESULTS@@"
    if done.returncode or marker not in done.stdout:
        return f"running {name} failed:\n{done.stdout[-3000:]}\n{done.stderr}"
    results = json.loads(done.stdout.split(marker, 1)[1])
    return {result["index"]: result for result in results}


@functools.cache
def all_results() -> dict[str, dict[int, dict[str, Any]] | str]:
    """Run every page, three at a time (each is mostly waiting on Django and SQLite)."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        names = [page.name for page in PAGES]
        return dict(zip(names, pool.map(_run_page, names), strict=True))


def run_page(name: str) -> dict[int, dict[str, Any]]:
    """Return the per-block results of one page."""
    results = all_results()[name]
    if isinstance(results, str):
        raise AssertionError(results)
    return results


def test_docs_exist_with_the_pages_the_issue_lists() -> None:
    names = {page.stem for page in PAGES}
    wanted = {
        "index",
        "concepts",
        "installation",
        "getting-started",
        "deploying",
        "generic",
        "routing",
        "binding",
        "javascript",
        "backends",
        "delay",
        "testing",
        "conformance",
        "reference",
        "faq",
        "upgrading",
    }
    assert wanted <= names, f"missing pages: {sorted(wanted - names)}"


def test_every_block_has_a_checked_language() -> None:
    unknown = [
        f"{page.name}:{block.line} {block.language!r}"
        for page in PAGES
        for block in snippets.blocks(page)
        if block.language not in snippets.KNOWN_LANGUAGES
    ]
    assert not unknown, f"code blocks in a language no test checks: {unknown}"


def test_no_untested_literal_blocks() -> None:
    """Samples must be code-block directives (which run here), not bare '::' blocks."""
    offenders = []
    for page in PAGES:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            stripped = line.rstrip()
            if stripped.endswith("::") and not stripped.lstrip().startswith(".."):
                offenders.append(f"{page.name}:{number}")
    assert not offenders, f"bare literal blocks: {offenders}"


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("page", "index"), _params())
def test_docs_code_block_runs(page: str, index: int) -> None:
    result = run_page(page)[index]
    assert result["ok"], f"{page} line {result['line']} ({result['language']}):\n{result['error']}"
