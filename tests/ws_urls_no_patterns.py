"""A would-be WEBSOCKET_URLCONF without urlpatterns (system check django_asgi_ws.E003)."""

from __future__ import annotations
