from __future__ import annotations

from django_asgi_ws.asgi import get_asgi_application

application = get_asgi_application()
