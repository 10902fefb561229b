"""The test project with its database in a file the test names, and tight limits.

Used by end-to-end tests that need users shared between the test and the
server process, and limits small enough to hit.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403

DATABASES["default"]["NAME"] = os.environ["DJANGO_ASGI_WS_DB"]  # noqa: F405
# The client must still see nothing of an error, even in debug mode.
DEBUG = True
WEBSOCKET_MAX_MESSAGE_SIZE = 4096
WEBSOCKET_RATE_LIMIT = "20/m"
WEBSOCKET_HANDSHAKE_TIMEOUT = 0.5
# Not propagated: daphne's command line gives the root logger a handler too, which
# would print every record twice.
LOGGING = {
    **LOGGING,  # noqa: F405
    "loggers": {"django_asgi_ws": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
