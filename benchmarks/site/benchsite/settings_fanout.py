"""django-asgi-ws for fanout_sockets.py: the views of fanout_views, default security
settings, and the broadcast backend the environment names.

FANOUT_LAYER is memory (the default), redis or postgres; the other two take
FANOUT_LOCATION (the server's URL) and FANOUT_PREFIX (one per benchmark server,
so that servers sharing a broker do not hear each other). FANOUT_PING_INTERVAL,
when set, is WEBSOCKET_PING_INTERVAL (seconds).
"""

from __future__ import annotations

import os

from benchsite.settings_ours import *  # noqa: F403

WEBSOCKET_URLCONF = "benchsite.fanout_views"

layer = os.environ.get("FANOUT_LAYER", "memory")
backend = {"memory": "MemoryBackend", "redis": "RedisBackend", "postgres": "PostgresBackend"}
WEBSOCKET_BROADCAST = {"BACKEND": f"django_asgi_ws.broadcast.backends.{layer}.{backend[layer]}"}
if layer != "memory":
    WEBSOCKET_BROADCAST["LOCATION"] = os.environ["FANOUT_LOCATION"]
    WEBSOCKET_BROADCAST["PREFIX"] = os.environ["FANOUT_PREFIX"]
if "FANOUT_PING_INTERVAL" in os.environ:  # fanout_sockets.py --stalled
    WEBSOCKET_PING_INTERVAL = float(os.environ["FANOUT_PING_INTERVAL"])
