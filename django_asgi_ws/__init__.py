"""WebSockets for Django without Channels."""

from __future__ import annotations

from django_asgi_ws.status import CloseCode
from django_asgi_ws.websocket import (
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    WebSocketState,
)

__version__ = "0.1.0"

__all__ = [
    "CloseCode",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketState",
    "__version__",
]
