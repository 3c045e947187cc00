"""Serve static files from the worker in development (``runserver``, ``runworker``).

Requests under ``STATIC_URL`` are answered straight from the finders of
``django.contrib.staticfiles`` by the worker that took the message, without
middleware or URL resolution, in 512 KB chunks; other requests go to the views
as usual. ``runserver`` and ``runworker`` install :class:`StaticFilesConsumer` as
the default ``http.request`` consumer when :func:`should_serve_static` says so.
"""

from __future__ import annotations

from urllib.parse import urlparse
from urllib.request import url2pathname

from django.apps import apps
from django.conf import settings
from django.core.handlers.exception import response_for_exception
from django.http import Http404, HttpResponseBase

from channels.handler import AsgiHandler, AsgiRequest, ViewConsumer

__all__ = ["StaticFilesConsumer", "StaticFilesHandler", "should_serve_static"]


def should_serve_static(insecure: bool = False) -> bool:
    """Return True if workers should serve static files (staticfiles on, DEBUG or insecure)."""
    return apps.is_installed("django.contrib.staticfiles") and (settings.DEBUG or insecure)


class StaticFilesHandler(AsgiHandler):
    """An AsgiHandler that answers requests under ``STATIC_URL`` with the static file."""

    def _static_prefix(self) -> str | None:
        from django.contrib.staticfiles import utils

        utils.check_settings()
        base_url = urlparse(settings.STATIC_URL)
        if base_url.netloc:
            # Static files live on another host; nothing to serve here.
            return None
        return str(base_url.path)

    def file_path(self, url: str, prefix: str) -> str:
        """Return the relative file system path of the static file for ``url``."""
        return url2pathname(url.removeprefix(prefix))

    def serve(self, request: AsgiRequest, prefix: str) -> HttpResponseBase:
        """Return the static file response for ``request``."""
        from django.contrib.staticfiles.views import serve

        response: HttpResponseBase = serve(
            request, self.file_path(request.path, prefix), insecure=True
        )
        return response

    def get_response(self, request: AsgiRequest) -> HttpResponseBase:
        """Serve static files directly; hand everything else to Django's views."""
        prefix = self._static_prefix()
        if prefix and request.path.startswith(prefix):
            try:
                return self.serve(request, prefix)
            except Http404 as exc:
                result: HttpResponseBase = response_for_exception(request, exc)
                return result
        response: HttpResponseBase = super().get_response(request)
        return response


class StaticFilesConsumer(ViewConsumer):
    """The ``http.request`` consumer that also serves static files."""

    handler_class = StaticFilesHandler

    def __repr__(self) -> str:
        return "channels.staticfiles.StaticFilesConsumer"
