from __future__ import annotations

from django_asgi_ws import WebSocket


async def echo(websocket: WebSocket) -> None:
    """Send every message back as it came: text as text, bytes as bytes."""
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if isinstance(message, str):
            await websocket.send_text(message)
        else:
            await websocket.send_bytes(message)
