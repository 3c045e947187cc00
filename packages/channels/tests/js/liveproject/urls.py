"""URLs: the bridge page and the save view."""

from django.urls import path

from liveproject import views

urlpatterns = [
    path("", views.page),
    path("save/", views.save_value),
]
