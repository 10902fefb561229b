from __future__ import annotations

from django.urls import path

from mysite import views

urlpatterns = [
    path("ws/echo/", views.echo),
    path("ws/wait/", views.wait),
    path("ws/crash/", views.crash),
    path("ws/block/", views.block),
    path("ws/json/", views.JSONEcho.as_view()),
    path("ws/text/", views.TextEcho.as_view()),
]
