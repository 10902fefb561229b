from __future__ import annotations

from django.urls import path
from django.views.generic import TemplateView

from . import views

urlpatterns = [
    path("", TemplateView.as_view(template_name="page.html")),
    path("ticket/<str:username>/", views.ticket),
]
