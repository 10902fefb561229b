"""The test project with short timeouts, for the fault tests (tests/test_faults_e2e.py).

A close (and a handshake) gets one second; a subscription holds 20 messages
and closes with 1013 when it overflows. ``DJANGO_ASGI_WS_PING`` sets the
keepalive interval and timeout (default: the package's, 20 s each).
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403

WEBSOCKET_CLOSE_TIMEOUT = 1.0
WEBSOCKET_HANDSHAKE_TIMEOUT = 1.0
WEBSOCKET_PING_INTERVAL = WEBSOCKET_PING_TIMEOUT = float(os.environ.get("DJANGO_ASGI_WS_PING", 20))
WEBSOCKET_BROADCAST = {
    "BACKEND": "django_asgi_ws.broadcast.backends.memory.MemoryBackend",
    "QUEUE_SIZE": 20,
    "OVERFLOW": "close",
}
# Not propagated: daphne's command line gives the root logger a handler too, which
# would print every record twice.
LOGGING = {
    **LOGGING,  # noqa: F405
    "loggers": {"django_asgi_ws": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
