from __future__ import annotations

import time
from typing import Any

from django.http import HttpRequest, HttpResponse

from django_asgi_ws import WebSocket, WebSocketDisconnect
from django_asgi_ws.views import WebSocketView

VERSION = "v1"


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"{VERSION}:hello over http")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        async for text in websocket.iter_text():
            await websocket.send_text(f"{VERSION}:{text}")
    finally:
        print("cleanup ran", flush=True)


async def wait(websocket: WebSocket) -> None:
    """Waits for the connection to end and prints the close code it saw."""
    await websocket.accept()
    try:
        while True:
            await websocket.receive()
    except WebSocketDisconnect as exc:
        print(f"wait saw close code {exc.code}", flush=True)


async def block(websocket: WebSocket) -> None:
    """Blocks the event loop for the seconds of each message (time.sleep, not asyncio's)."""
    await websocket.accept()
    async for text in websocket.iter_text():
        time.sleep(float(text))  # noqa: ASYNC251
        await websocket.send_text("slept")


async def crash(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    raise RuntimeError("boom")


class JSONEcho(WebSocketView):
    encoding = "json"

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_json({"version": VERSION, "data": data})


class TextEcho(WebSocketView):
    encoding = "text"

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_text(f"{VERSION}:{data}")
