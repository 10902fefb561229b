from __future__ import annotations

from django.urls import path

from echosite import views

urlpatterns = [path("ws/echo/", views.echo)]
