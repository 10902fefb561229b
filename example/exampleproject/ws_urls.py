"""WebSocket URL configuration for the example project.

Referenced by the ``WEBSOCKET_URLCONF`` setting.
"""

from django.urls import path

from demo import ws_views

urlpatterns = [
    path("ws/ping/", ws_views.ping, name="ping"),
    path("ws/echo/", ws_views.echo, name="echo"),
    path("ws/counter/", ws_views.Counter.as_view(), name="counter"),
]
