"""django-asgi-ws with its default security settings: the origin check (derived
from ALLOWED_HOSTS), the Host check, the size limit, the handshake timeout."""

from __future__ import annotations

from benchsite.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django_asgi_ws"]  # noqa: F405
WEBSOCKET_URLCONF = "benchsite.ws_urls"
