"""As asgi_channels (Channels' tutorial), routing to the fan-out consumers."""

from __future__ import annotations

import os

import gc_pauses  # noqa: F401  (times the collector when asked)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings_fanout_channels")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from benchsite.fanout_consumers import Publisher, Subscriber  # noqa: E402

routes = [path("ws/fanout/", Subscriber.as_asgi()), path("ws/publish/", Publisher.as_asgi())]
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(routes))),
    }
)
