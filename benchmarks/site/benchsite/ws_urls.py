from __future__ import annotations

from django.urls import path

from django_asgi_ws import WebSocket


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)


urlpatterns = [path("ws/echo/", echo)]
