"""runserver-style log lines for ``runasgi``: one per HTTP request, websocket connect and close."""

from __future__ import annotations

import logging
from typing import Any

from django_asgi_ws.asgi_types import ASGIApp, ASGIMessage, Receive, Scope, Send
from django_asgi_ws.status import CloseCode
from django_asgi_ws.tickets.handshake import redact_query

logger = logging.getLogger("django.server")


class AccessLogMiddleware:
    """Log through ``django.server``, the logger runserver uses, so LOGGING applies."""

    def __init__(self, application: ASGIApp) -> None:
        self.application = application

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.application(scope, receive, _HTTPLog(scope, send).send)
        elif scope["type"] == "websocket":
            log = _WebSocketLog(scope, receive, send)
            await self.application(scope, log.receive, log.send)
        else:
            await self.application(scope, receive, send)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


class _HTTPLog:
    def __init__(self, scope: Scope, send: Send) -> None:
        self.scope = scope
        self._send = send
        self.status = 0
        self.size = 0

    async def send(self, message: ASGIMessage) -> None:
        await self._send(message)
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.size += len(message.get("body", b""))
            if not message.get("more_body", False):
                query = redact_query(self.scope.get("query_string", b"").decode("latin-1"))
                target = self.scope["path"] + (f"?{query}" if query else "")
                _log(
                    self.status,
                    '"%s %s HTTP/%s" %s %s',
                    self.scope["method"],
                    target,
                    self.scope.get("http_version", "1.1"),
                    self.status,
                    self.size,
                )


class _WebSocketLog:
    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.accepted = False
        self.ended = False

    async def receive(self) -> ASGIMessage:
        message = await self._receive()
        if message["type"] == "websocket.disconnect" and self.accepted and not self.ended:
            self._end("DISCONNECT", message.get("code", CloseCode.NO_STATUS_RECEIVED))
        return message

    async def send(self, message: ASGIMessage) -> None:
        await self._send(message)
        kind = message["type"]
        if kind == "websocket.accept":
            self.accepted = True
            _log(101, "WebSocket CONNECT %s [%s]", self.scope["path"], _client(self.scope))
        elif kind == "websocket.close" and not self.ended:
            if self.accepted:
                self._end("CLOSE", message.get("code", CloseCode.NORMAL_CLOSURE))
            else:
                self.ended = True
                _log(403, "WebSocket REJECT %s [%s] 403", self.scope["path"], _client(self.scope))
        elif kind == "websocket.http.response.start" and not self.ended:
            self.ended = True
            status = message["status"]
            path, client = self.scope["path"], _client(self.scope)
            _log(status, "WebSocket REJECT %s [%s] %s", path, client, status)

    def _end(self, event: str, code: Any) -> None:
        self.ended = True
        path, client = self.scope["path"], _client(self.scope)
        _log(200, "WebSocket %s %s [%s] %s", event, path, client, code)


def _log(status: int, message: str, *args: Any) -> None:
    level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
    logger.log(level, message, *args, extra={"status_code": status})
