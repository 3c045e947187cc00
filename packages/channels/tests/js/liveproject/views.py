"""The bridge page and a view that saves a Value (so the binding fires in the worker)."""

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render

# Imported for its side effect: defining ValueBinding registers its model signals.
from liveproject import bindings  # noqa: F401
from liveproject.models import Value


def page(request: HttpRequest) -> HttpResponse:
    """Render the page that loads websocketbridge.js."""
    return render(request, "liveproject/page.html")


def save_value(request: HttpRequest) -> HttpResponse:
    """Create or update the Value named ``name`` with ``value`` (query parameters)."""
    name = request.GET.get("name", "")
    try:
        number = int(request.GET.get("value", ""))
    except ValueError:
        return HttpResponseBadRequest("value must be an integer, e.g. ?name=a&value=1")
    if not name:
        return HttpResponseBadRequest("name is required, e.g. ?name=a&value=1")
    instance, created = Value.objects.update_or_create(name=name, defaults={"value": number})
    return JsonResponse({"pk": instance.pk, "created": created})
