"""Entry points for ``mysite/asgi.py``."""

from __future__ import annotations

import django
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler

from django_asgi_ws.asgi_types import ASGIApp
from django_asgi_ws.deprecation import renamed
from django_asgi_ws.handler import WebSocketApplication

__all__ = ["WebSocketApplication", "get_asgi_application", "wrap_asgi_application"]


def get_asgi_application() -> WebSocketApplication:
    """Django's ASGI application with websockets and lifespan added.

    The counterpart of ``django.core.asgi.get_asgi_application()``: it sets
    Django up, so it is safe to call from ``asgi.py`` before importing models.
    """
    django.setup(set_prefix=False)
    return WebSocketApplication(DjangoASGIHandler())


def wrap_asgi_application(http_application: ASGIApp) -> WebSocketApplication:
    """Add websockets and lifespan to an existing HTTP ASGI application.

    Django must already be set up (``django.core.asgi.get_asgi_application()``
    does that).
    """
    return WebSocketApplication(http_application)


__getattr__ = renamed(__name__, ASGIHandler=WebSocketApplication)
