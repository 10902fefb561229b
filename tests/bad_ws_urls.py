"""A WEBSOCKET_URLCONF with sync views, which the system check django_asgi_ws.E004 reports."""

from __future__ import annotations

from django.urls import include, path

from tests import ws_views

nested_patterns = [
    path("ping/", ws_views.ping),
    path("sync/", ws_views.sync_view),
]

urlpatterns = [
    path("ws/ping/", ws_views.ping),
    path("ws/sync/", ws_views.sync_view),
    path("ws/nested/", include(nested_patterns)),
]
