"""Database connections opened for one websocket connection close with it."""

from __future__ import annotations

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.db import connections


async def close_thread_connections(context: ThreadSensitiveContext) -> None:
    """Close the connections of the thread that ran this context's sync code.

    As under Django's own ASGI handler, sync code called from a connection
    (``sync_to_async``) runs in a thread created for that connection alone.
    The thread ends with the connection; its database connections would stay
    open on the server until garbage-collected, whatever CONN_MAX_AGE says.
    Nothing is done when no sync code ran, which is the common case.
    """
    if context in SyncToAsync.context_to_thread_executor:
        await sync_to_async(connections.close_all, thread_sensitive=True)()
