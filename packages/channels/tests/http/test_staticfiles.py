"""StaticFilesConsumer serves STATIC_URL from the worker and passes the rest to the views."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.handler import CHUNK_SIZE
from channels.staticfiles import StaticFilesConsumer, should_serve_static
from django.test import override_settings

CSS = b"body { color: teal; }\n"
LARGE = b"x" * (CHUNK_SIZE + 10)


@pytest.fixture
def static_dir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "site.css").write_bytes(CSS)
    (tmp_path / "large.bin").write_bytes(LARGE)
    with override_settings(STATICFILES_DIRS=[str(tmp_path)], DEBUG=True):
        yield tmp_path


def test_static_file_is_served_by_the_worker(
    static_dir: Path, make_message: Any, drain: Any
) -> None:
    message = make_message("/static/site.css")
    StaticFilesConsumer()(message)
    replies = drain(message)
    assert replies[0]["status"] == 200
    headers = dict((name, value) for name, value in replies[0]["headers"])
    assert headers[b"content-type"] == b"text/css"
    assert b"".join(r["content"] for r in replies) == CSS
    assert replies[-1]["more_content"] is False


def test_large_static_file_comes_in_512kb_chunks(
    static_dir: Path, make_message: Any, drain: Any
) -> None:
    message = make_message("/static/large.bin")
    StaticFilesConsumer()(message)
    replies = drain(message)
    assert max(len(r["content"]) for r in replies) == CHUNK_SIZE
    assert b"".join(r["content"] for r in replies) == LARGE


def test_missing_static_file_is_404(static_dir: Path, make_message: Any, drain: Any) -> None:
    message = make_message("/static/nope.css")
    StaticFilesConsumer()(message)
    (reply,) = drain(message)
    assert reply["status"] == 404


def test_other_paths_go_to_the_views(static_dir: Path, make_message: Any, drain: Any) -> None:
    message = make_message("/hello/")
    StaticFilesConsumer()(message)
    (reply,) = drain(message)
    assert reply["content"] == b"Hello, channels!"


def test_static_is_served_only_in_debug_or_when_insecure() -> None:
    with override_settings(DEBUG=False):
        assert not should_serve_static()
        assert should_serve_static(insecure=True)
    with override_settings(DEBUG=True):
        assert should_serve_static()
    with override_settings(
        DEBUG=True, INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"]
    ):
        assert not should_serve_static()
