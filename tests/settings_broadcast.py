"""The test project with the broadcast backend the environment names.

``DJANGO_ASGI_WS_BROADCAST`` is ``redis`` or ``postgres``;
``DJANGO_ASGI_WS_BROADCAST_PREFIX`` keeps concurrent test runs apart;
``DJANGO_ASGI_WS_QUEUE_SIZE`` and ``DJANGO_ASGI_WS_OVERFLOW`` set the slow-subscriber policy.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403

_backend = os.environ["DJANGO_ASGI_WS_BROADCAST"]
WEBSOCKET_BROADCAST = {
    "BACKEND": {
        "memory": "django_asgi_ws.broadcast.backends.memory.MemoryBackend",
        "redis": "django_asgi_ws.broadcast.backends.redis.RedisBackend",
        "postgres": "django_asgi_ws.broadcast.backends.postgres.PostgresBackend",
    }[_backend],
    "PREFIX": os.environ.get("DJANGO_ASGI_WS_BROADCAST_PREFIX", "django_asgi_ws:"),
    "QUEUE_SIZE": int(os.environ.get("DJANGO_ASGI_WS_QUEUE_SIZE", "100")),
    "OVERFLOW": os.environ.get("DJANGO_ASGI_WS_OVERFLOW", "drop_oldest"),
}
if _backend == "redis":
    WEBSOCKET_BROADCAST["LOCATION"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
elif _backend == "postgres":
    WEBSOCKET_BROADCAST["LOCATION"] = "postgresql://{user}@{host}:{port}/{name}".format(
        user=os.environ.get("PGUSER", "postgres"),
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "5432"),
        name=os.environ.get("PGDATABASE", "test"),
    )
