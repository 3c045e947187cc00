"""URLs: the room list, a room page, and a name-only sign-in."""

from chat import views
from django.urls import path, re_path

urlpatterns = [
    path("", views.index, name="index"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    re_path(r"^rooms/(?P<room_name>[a-zA-Z0-9_]+)/$", views.room, name="room"),
]
