"""A GET through an ASGI application, called as a server calls it, for the unit tests."""

from __future__ import annotations

import asyncio
from typing import Any

from django_asgi_ws.asgi_types import ASGIApp


async def asgi_get(application: ASGIApp, path: str, *, root_path: str = "") -> tuple[int, bytes]:
    """The status and body the application answers to ``GET path`` from ``testserver``.

    *path* may end with a query string.
    """
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "root_path": root_path,
        "path": path,
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver")],
    }
    inbox = [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if inbox:
            return inbox.pop(0)
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await application(scope, receive, send)
    start, *body = sent
    return start["status"], b"".join(message.get("body", b"") for message in body)
