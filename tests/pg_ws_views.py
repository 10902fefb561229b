"""Websocket views that use PostgreSQL for every message, and say which backend served it.

Each reply is ``{"count": <notes stored>, "pid": <backend pid>}``, or
``{"error": "..."}`` when the database failed: the socket stays open, so a test
can see whether the next message gets a working connection again.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections

from django_asgi_ws.views import WebSocketView
from django_asgi_ws.websocket import WebSocket
from tests.pg import database_alias
from tests.testapp.models import Note


def _backend_pid(alias: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


async def store_note(text: str) -> dict[str, Any]:
    """Store *text* through the async ORM; the reply a view sends for one message."""
    alias = database_alias()
    try:
        await Note.objects.using(alias).acreate(text=text)
        count = await Note.objects.using(alias).acount()
        # thread_sensitive, like the async ORM: the same thread, so the same connection.
        pid = await sync_to_async(_backend_pid)(alias)
    except DatabaseError as exc:
        return {"error": str(exc)}
    return {"count": count, "pid": pid}


async def notes(websocket: WebSocket) -> None:
    """A function view: a loop over the messages."""
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_json(await store_note(text))


class NotesView(WebSocketView):
    """The same as a class-based view: ``on_receive`` for each message."""

    encoding = "text"

    async def on_receive(self, websocket: WebSocket, data: str) -> None:
        await websocket.send_json(await store_note(data))
