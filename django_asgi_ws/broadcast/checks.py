"""System checks for ``WEBSOCKET_BROADCAST`` (ids django_asgi_ws.E020 to E031)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core import checks

from django_asgi_ws.broadcast.loading import find_problems, get_config


def check_broadcast_settings(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """E020 shape and keys, E021 backend path, E022/E023 missing redis/psycopg,
    E024 QUEUE_SIZE, E025 OVERFLOW, E026 LOCATION, E027 PREFIX, E028 OPTIONS/TIMEOUT,
    E029 a configuration the backend refuses (a DATABASES alias that is not PostgreSQL),
    E030 HISTORY, E031 PRESENCE_TIMEOUT."""
    return [
        checks.Error(problem.msg, hint=problem.hint, id=problem.id)
        for problem in find_problems(get_config())
    ]
