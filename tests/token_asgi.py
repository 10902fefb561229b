"""The test project behind the bearer-token middleware, as ``asgi.py`` wraps it."""

from __future__ import annotations

from django_asgi_ws.asgi import get_asgi_application
from tests.token_middleware import BearerTokenMiddleware

application = BearerTokenMiddleware(get_asgi_application())
