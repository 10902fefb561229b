"""HTTP URL configuration for the example project."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from chat import views as chat_views

urlpatterns = [
    path("", TemplateView.as_view(template_name="demo/index.html"), name="index"),
    path("ping/", TemplateView.as_view(template_name="demo/ping.html"), name="ping"),
    path("echo/", TemplateView.as_view(template_name="demo/echo.html"), name="echo"),
    path(
        "counter/",
        TemplateView.as_view(template_name="demo/counter.html"),
        name="counter",
    ),
    path("rooms/", chat_views.room_list, name="rooms"),
    path("rooms/<slug:slug>/", chat_views.room, name="room"),
    path("accounts/signup/", chat_views.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
