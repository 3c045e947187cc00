"""URLs of the test project."""

from django.http import HttpRequest, HttpResponse
from django.urls import path


def hello(request: HttpRequest) -> HttpResponse:
    """Answer with a short text, for HTTP round-trip tests."""
    return HttpResponse(b"Hello, channels!", content_type="text/plain")


urlpatterns = [path("hello/", hello)]
