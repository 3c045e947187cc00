"""The two views: a fixed "hello" answer and the trigger of the broadcast test."""

from django.http import HttpRequest, HttpResponse

GROUP = "bench-broadcast"


def hello(request: HttpRequest) -> HttpResponse:
    """Answer a short fixed text (the request/s benchmark)."""
    return HttpResponse(b"Hello, world!", content_type="text/plain")


def fire(request: HttpRequest) -> HttpResponse:
    """Send ``?token=`` once to every WebSocket in the broadcast group."""
    token = request.GET.get("token", "")
    try:
        from channels import Group  # channels 1.x API: this project and 1.1.8
    except ImportError:  # channels 4
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        async_to_sync(layer.group_send)(GROUP, {"type": "bench.broadcast", "text": token})
    else:
        Group(GROUP).send({"text": token}, immediately=True)
    return HttpResponse(b"sent", content_type="text/plain")
