"""WebSocket URL configuration for the example project.

Referenced by the ``WEBSOCKET_URLCONF`` setting.
"""

from django.urls import path

from chat.ws_views import ChatRoom
from demo import ws_views

urlpatterns = [
    path("ws/ping/", ws_views.ping, name="ping"),
    path("ws/echo/", ws_views.echo, name="echo"),
    path("ws/counter/", ws_views.Counter.as_view(), name="counter"),
    path("ws/rooms/<slug:slug>/", ChatRoom.as_view(), name="room"),
]
