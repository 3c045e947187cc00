"""URLs: ``/hello`` (the HTTP benchmark) and ``/fire`` (starts a broadcast)."""

from benchproj import views
from django.urls import path

urlpatterns = [
    path("hello", views.hello),
    path("fire", views.fire),
]
