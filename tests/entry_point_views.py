"""Websocket routes for the entry-point tests: views that show how a server stops."""

from __future__ import annotations

import asyncio

from django.urls import path

from django_asgi_ws import WebSocket, WebSocketDisconnect
from tests import ws_views
from tests.entry_point_asgi import say


async def farewell(websocket: WebSocket) -> None:
    """Echo until the connection ends, then say with which code."""
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect as exc:
        say(f"farewell saw close code {exc.code}")


async def stuck(websocket: WebSocket) -> None:
    """Never read again: only a cancellation ends this view."""
    await websocket.accept()
    await websocket.send_text("stuck")
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        say("stuck view cancelled")
        raise


async def sleeper(websocket: WebSocket) -> None:
    """Accept, then read nothing for a long while: what a client sends piles up."""
    await websocket.accept()
    await websocket.send_text("sleeping")
    await asyncio.sleep(3600)


urlpatterns = [
    path("ws/echo/", ws_views.echo),
    path("ws/farewell/", farewell),
    path("ws/stuck/", stuck),
    path("ws/sleeper/", sleeper),
]
