"""WebSocket views for the demo pages."""

from __future__ import annotations

from typing import Any

from django_asgi_ws import WebSocket
from django_asgi_ws.views import WebSocketView


async def ping(websocket: WebSocket) -> None:
    """Answer every "ping" with "pong!"."""
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text("pong!" if text == "ping" else f"unknown command: {text}")


async def echo(websocket: WebSocket) -> None:
    """Send every text message straight back."""
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)


class Counter(WebSocketView):
    """Keep a running total per connection.

    Receives ``{"increment": n}`` and replies with ``{"count": total}``.
    """

    encoding = "json"

    count: int

    async def on_connect(self, websocket: WebSocket) -> None:
        self.count = 0
        await websocket.accept()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        if not isinstance(data, dict):
            await websocket.send_json({"error": "expected a JSON object"})
            return
        increment = data.get("increment")
        # bool is a subclass of int, but true/false are not valid increments.
        if not isinstance(increment, int) or isinstance(increment, bool):
            await websocket.send_json({"error": '"increment" must be an integer'})
            return
        self.count += increment
        await websocket.send_json({"count": self.count})
