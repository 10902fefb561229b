from __future__ import annotations

from collections.abc import Iterator

import pytest

from django_asgi_ws import lifespan
from django_asgi_ws.test import WebSocketClient


@pytest.fixture
def client() -> WebSocketClient:
    return WebSocketClient(timeout=3.0)


@pytest.fixture
def lifespan_hooks() -> Iterator[tuple[list[lifespan.Hook], list[lifespan.Hook]]]:
    """The hook registries, restored after the test."""
    saved = list(lifespan.startup_hooks), list(lifespan.shutdown_hooks)
    yield lifespan.startup_hooks, lifespan.shutdown_hooks
    lifespan.startup_hooks[:] = saved[0]
    lifespan.shutdown_hooks[:] = saved[1]
