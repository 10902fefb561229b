"""The bundled backends: memory (one process), Redis pub/sub, PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

MEMORY = "django_asgi_ws.broadcast.backends.memory.MemoryBackend"
REDIS = "django_asgi_ws.broadcast.backends.redis.RedisBackend"
POSTGRES = "django_asgi_ws.broadcast.backends.postgres.PostgresBackend"
