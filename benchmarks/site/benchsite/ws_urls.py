from __future__ import annotations

import asyncio

from django.urls import path

from django_asgi_ws import WebSocket, WebSocketDisconnect


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)


async def slow_reader(websocket: WebSocket) -> None:
    """Reads one message every 50 ms, whatever the client sends (deploy.py's flood)."""
    await websocket.accept()
    try:
        while True:
            await websocket.receive()
            await asyncio.sleep(0.05)
    except WebSocketDisconnect:
        return


async def held(websocket: WebSocket) -> None:
    """Echoes until the connection ends (deploy.py's drain)."""
    await websocket.accept()
    while True:
        try:
            text = await websocket.receive_text()
            await websocket.send_text(text)
        except WebSocketDisconnect:
            return


urlpatterns = [
    path("ws/echo/", echo),
    path("ws/slow-reader/", slow_reader),
    path("ws/held/", held),
]
