"""One view that reads the database, to show the worker uses the test database."""

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.urls import path


def users(request: HttpRequest) -> HttpResponse:
    """List the user names, one per line."""
    names = "\n".join(User.objects.order_by("username").values_list("username", flat=True))
    return HttpResponse(names, content_type="text/plain")


urlpatterns = [path("users/", users)]
