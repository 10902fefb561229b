"""A WEBSOCKET_URLCONF of class-based views for tests/test_views.py."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404
from django.urls import path, re_path

from django_asgi_ws import WebSocket, WebSocketException
from django_asgi_ws.views import WebSocketView

on_disconnect_calls: list[tuple[str, int]] = []
"""(view class name, close code) for every on_disconnect call; the tests clear it."""


class RecordsDisconnect(WebSocketView):
    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        on_disconnect_calls.append((type(self).__name__, close_code))


class Echo(RecordsDisconnect):
    """No encoding: says which type on_receive was given."""

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        if isinstance(data, str):
            await websocket.send_text(f"str {data}")
        else:
            await websocket.send_bytes(b"bytes " + data)


class FailsInOnReceive(RecordsDisconnect):
    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        raise ValueError("broken in on_receive")


class RaisesWebSocketException(RecordsDisconnect):
    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        raise WebSocketException(4002, "raised by the view")


RAISED_AFTER_ACCEPT: dict[str, type[BaseException]] = {
    "permission-denied": PermissionDenied,
    "http404": Http404,
    "suspicious-operation": SuspiciousOperation,
    "bad-request": BadRequest,
    "value-error": ValueError,
    "cancelled": asyncio.CancelledError,
}


class RaisesInOnReceive(RecordsDisconnect):
    """Raises RAISED_AFTER_ACCEPT[name] for the first message."""

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        raise RAISED_AFTER_ACCEPT[self.kwargs["name"]]()


class ClosesItself(RecordsDisconnect):
    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.close(4000, "closed by the view")


class AcceptsThenCloses(RecordsDisconnect):
    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(4003, "not allowed")


class Refuses(RecordsDisconnect):
    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.close()


class ShowsURLArguments(WebSocketView):
    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"args": list(self.args), "kwargs": self.kwargs})


urlpatterns = [
    path("plain/", WebSocketView.as_view()),
    path("echo/", Echo.as_view()),
    path("fails/", FailsInOnReceive.as_view()),
    path("raises/", RaisesWebSocketException.as_view()),
    path("raises/<str:name>/", RaisesInOnReceive.as_view()),
    path("closes-itself/", ClosesItself.as_view()),
    path("accepts-then-closes/", AcceptsThenCloses.as_view()),
    path("refuses/", Refuses.as_view()),
    path("arguments/<slug:room>/<int:number>/", ShowsURLArguments.as_view()),
    re_path(r"^arguments/([0-9]{4})/$", ShowsURLArguments.as_view()),
]
