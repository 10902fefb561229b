"""The test project as the production entry points serve it in the end-to-end tests.

Server settings far from every server's defaults, so that a test sees them
applied: small messages, frequent pings, a short drain and close.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403

WEBSOCKET_URLCONF = "tests.entry_point_views"
WEBSOCKET_MAX_MESSAGE_SIZE = 4096
WEBSOCKET_PING_INTERVAL = 1.0
WEBSOCKET_PING_TIMEOUT = 20.0
WEBSOCKET_SHUTDOWN_TIMEOUT = 1.5
WEBSOCKET_CLOSE_TIMEOUT = 2.5
# Not propagated: daphne's command line gives the root logger a handler too.
LOGGING = {
    **LOGGING,  # noqa: F405
    "loggers": {"django_asgi_ws": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
