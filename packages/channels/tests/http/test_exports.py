"""The HTTP bridge modules export exactly their intended names."""

from __future__ import annotations

import channels.handler
import channels.log
import channels.staticfiles
from channels.management.commands import runserver


def test_handler_exports() -> None:
    assert set(channels.handler.__all__) == {
        "CHUNK_SIZE",
        "AsgiHandler",
        "AsgiRequest",
        "ViewConsumer",
        "send_reply",
    }
    assert channels.handler.CHUNK_SIZE == 512 * 1024


def test_staticfiles_log_and_runserver_exports() -> None:
    assert set(channels.staticfiles.__all__) == {
        "StaticFilesConsumer",
        "StaticFilesHandler",
        "should_serve_static",
    }
    assert set(channels.log.__all__) == {"format_action", "status_style"}
    assert runserver.__all__ == ["Command"]


def test_asgi_request_keeps_the_1x_exception_aliases() -> None:
    from channels.exceptions import RequestAborted, RequestTimeout, ResponseLater

    request_class = channels.handler.AsgiRequest
    assert request_class.ResponseLater is ResponseLater
    assert request_class.RequestTimeout is RequestTimeout
    assert request_class.RequestAborted is RequestAborted
