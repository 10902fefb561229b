"""Settings of the echo project: one websocket route, limits out of the suite's way.

The suite sends messages of up to 16 MiB (cases 9.*), so the message size limit
is above that. Keepalive pings are off: an unsolicited ping from the server in
the middle of a case is a frame the suite did not expect.
"""

from __future__ import annotations

SECRET_KEY = "django-insecure-conformance-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django_asgi_ws"]
ROOT_URLCONF = "echosite.urls"
WEBSOCKET_URLCONF = "echosite.ws_urls"
WEBSOCKET_MAX_MESSAGE_SIZE = 32 * 1024 * 1024
WEBSOCKET_PING_INTERVAL = None
WEBSOCKET_PING_TIMEOUT = None
USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_asgi_ws": {"handlers": ["console"], "level": "WARNING"}},
}
