"""HTTP URL configuration for the example project."""

from django.contrib import admin
from django.urls import path
from django.views.generic import TemplateView

urlpatterns = [
    path("", TemplateView.as_view(template_name="demo/index.html"), name="index"),
    path("ping/", TemplateView.as_view(template_name="demo/ping.html"), name="ping"),
    path("echo/", TemplateView.as_view(template_name="demo/echo.html"), name="echo"),
    path(
        "counter/",
        TemplateView.as_view(template_name="demo/counter.html"),
        name="counter",
    ),
    path("admin/", admin.site.urls),
]
