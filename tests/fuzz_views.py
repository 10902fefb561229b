"""Websocket views for the fuzz tests, included under ``ws/fuzz/`` by tests.ws_urls.

``diagnostics`` reports what is still alive in the server process, so that the
end-to-end fuzz tests can check that hostile connections left nothing behind;
``json/`` echoes JSON through a ``WebSocketView`` with ``encoding = "json"``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from typing import Any

from django.urls import path

from django_asgi_ws import WebSocket
from django_asgi_ws.views import WebSocketView


def describe_task(task: asyncio.Task[Any]) -> str:
    """A task's coroutine, by qualified name (its task name is a counter)."""
    coro = task.get_coro()
    return str(getattr(coro, "__qualname__", None) or type(coro).__name__)


def open_sockets() -> int | None:
    """How many sockets this process holds open (None where /proc is missing)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    count = 0
    for name in names:
        try:
            count += os.readlink(f"/proc/self/fd/{name}").startswith("socket:")
        except OSError:  # closed between listdir and readlink
            continue
    return count


def live_websockets() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, WebSocket))


async def diagnostics(websocket: WebSocket) -> None:
    """Report the other tasks, WebSocket objects and sockets alive in this process."""
    await websocket.accept()
    current = asyncio.current_task()
    tasks = sorted(describe_task(task) for task in asyncio.all_tasks() if task is not current)
    await websocket.send_json(
        {
            "tasks": tasks,
            "websockets": live_websockets() - 1,  # not this one
            "sockets": open_sockets(),
            "threads": threading.active_count(),
        }
    )
    await websocket.close()


class JSONEcho(WebSocketView):
    """Send every JSON message back, re-encoded."""

    encoding = "json"

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_json(data)


urlpatterns = [
    path("diagnostics/", diagnostics, name="fuzz-diagnostics"),
    path("json/", JSONEcho.as_view(), name="fuzz-json"),
]
