"""Pages: the room list, a room, and a name-only sign-in for the demo."""

import re

from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .models import ChatMessage

ROOM_NAME = re.compile(r"^[a-zA-Z0-9_]{1,50}$")
USERNAME = re.compile(r"^[\w.@+-]{1,30}$")
HISTORY = 50


def index(request: HttpRequest) -> HttpResponse:
    """List the rooms that have messages and offer to open one."""
    error = ""
    if "room" in request.GET:
        name = request.GET["room"].strip()
        if ROOM_NAME.match(name):
            return redirect("room", room_name=name)
        error = "Room names are 1-50 letters, digits or underscores."
    rooms = ChatMessage.objects.order_by("room").values_list("room", flat=True).distinct()[:100]
    return render(request, "chat/index.html", {"rooms": rooms, "error": error})


@login_required
def room(request: HttpRequest, room_name: str) -> HttpResponse:
    """Show a room's latest messages and the chat box."""
    latest = ChatMessage.objects.filter(room=room_name).order_by("-created", "-id")[:HISTORY]
    return render(
        request,
        "chat/room.html",
        {"room_name": room_name, "history": reversed(list(latest))},
    )


def login_view(request: HttpRequest) -> HttpResponse:
    """Sign in with just a name (demo only): the account is made on first use."""
    next_url = request.POST.get("next") or request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}):
        next_url = "/"
    error = ""
    if request.method == "POST":
        username = request.POST.get("username", "").strip()
        if not USERNAME.match(username):
            error = "Names are 1-30 letters, digits or . @ + - _ characters."
        else:
            users = get_user_model()
            user = users.objects.filter(username=username).first()
            if user is None:
                user = users(username=username)
                user.set_unusable_password()
                user.save()
            if user.has_usable_password():
                error = "That name belongs to a registered account; pick another."
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                return redirect(next_url)
    return render(request, "chat/login.html", {"next": next_url, "error": error})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """Sign out and go back to the room list."""
    logout(request)
    return redirect("index")
