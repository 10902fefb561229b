"""ASGI entry point of the echo project, for servers started without runasgi."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echosite.settings")

from django_asgi_ws.asgi import get_asgi_application

application = get_asgi_application()
