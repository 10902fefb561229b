from __future__ import annotations

import asyncio
import sys
import types
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from django_asgi_ws import lifespan
from django_asgi_ws.test import WebSocketClient


@pytest.fixture(scope="session", autouse=True)
def close_the_database_connections_of_asgirefs_thread() -> Iterator[None]:
    """Async tests run their sync code in asgiref's one shared thread; close what it opened.

    Those connections would otherwise be left for the interpreter's exit, where
    Python 3.13 warns about every unclosed sqlite3 connection.
    """
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    asyncio.run(sync_to_async(connections.close_all)())


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


@pytest.fixture
def ws_routes(settings: Any) -> Iterator[Callable[[list[Any]], None]]:
    """Serve the given websocket urlpatterns for the rest of the test."""
    names: list[str] = []

    def install(urlpatterns: list[Any]) -> None:
        name = f"tests._ws_routes_{uuid.uuid4().hex}"
        module = types.ModuleType(name)
        module.urlpatterns = urlpatterns  # type: ignore[attr-defined]
        sys.modules[name] = module
        names.append(name)
        settings.WEBSOCKET_URLCONF = name

    yield install
    for name in names:
        sys.modules.pop(name, None)
