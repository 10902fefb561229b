"""Database connections: a long-lived websocket must not hold one it no longer needs.

Sync code (the ORM, ``sync_to_async``) called from a websocket connection runs
in a thread created for that connection alone, as under Django's own ASGI
handler. Each such thread has its own database connections, so each open
socket that touched the database could keep a connection open: hundreds of
sockets would exhaust PostgreSQL's ``max_connections``. These functions apply
Django's per-request rules (CONN_MAX_AGE, CONN_HEALTH_CHECKS, closing broken
connections) per message instead, in the thread that owns the connections.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.db import close_old_connections, connections

if TYPE_CHECKING:
    from django_asgi_ws.asgi_types import ASGIMessage, Receive

# The dict under asgiref's WeakKeyDictionary of per-context thread executors:
# empty while no connection has run sync code, which a dict tells fastest.
thread_executors: dict[object, object] = SyncToAsync.context_to_thread_executor.data  # type: ignore[attr-defined]


def _has_thread(context: ThreadSensitiveContext | None) -> bool:
    """Whether sync code ran for this connection, so it may own database connections.

    Checking first keeps the common case (a view that never touched the
    database) free of any thread switch.
    """
    # Looking a context up makes a weakref: check for emptiness first.
    return (
        context is not None
        and bool(thread_executors)
        and context in SyncToAsync.context_to_thread_executor
    )


def open_thread_context() -> tuple[ThreadSensitiveContext, contextvars.Token[Any] | None]:
    """Enter a connection's thread-sensitive context, as ``async with
    ThreadSensitiveContext()`` does, without its two coroutines and the
    LookupError it raises on entry: one of each per handshake adds up.

    The connection's sync code (``sync_to_async``) then runs in a thread of its
    own. Inside a context opened by a caller, that one stays in charge and the
    token is None.
    """
    context = ThreadSensitiveContext()
    if SyncToAsync.thread_sensitive_context.get(None) is not None:
        return context, None
    return context, SyncToAsync.thread_sensitive_context.set(context)


def close_thread_context(
    context: ThreadSensitiveContext, token: contextvars.Token[Any] | None
) -> None:
    """Leave what ``open_thread_context`` entered, ending the context's thread if it has one."""
    if thread_executors:
        executor = SyncToAsync.context_to_thread_executor.pop(context, None)
        if executor is not None:
            executor.shutdown()
    if token is not None:
        SyncToAsync.thread_sensitive_context.reset(token)


def connection_has_thread() -> bool:
    """Whether sync code ran for the current connection (cheap: no thread switch)."""
    return _has_thread(SyncToAsync.thread_sensitive_context.get(None))


async def aclose_old_connections() -> bool:
    """What Django does at request_started and request_finished, for this connection.

    Closes connections that are broken, older than CONN_MAX_AGE (at once when
    it is 0) or in a failed state, and re-arms CONN_HEALTH_CHECKS for the next
    query. Does nothing if this connection never ran sync code. Returns
    whether a database connection is still open afterwards.
    """
    if connection_has_thread():
        return await sync_to_async(_close_old_connections, thread_sensitive=True)()
    return False


def _close_old_connections() -> bool:
    close_old_connections()
    return any(conn.connection is not None for conn in connections.all(initialized_only=True))


async def receive_between_requests(receive: Receive) -> ASGIMessage:
    """*receive*'s next message, with Django's per-request database rules around the wait.

    Like request_finished, it lets go of database connections before a wait that
    may last for hours; like request_started, it drops one that aged or broke
    meanwhile. For a connection whose sync code ran (see ``connection_has_thread``).
    """
    kept_connection = await aclose_old_connections()
    message = await receive()
    if kept_connection:
        await aclose_old_connections()
    return message


async def close_thread_connections(context: ThreadSensitiveContext) -> None:
    """Close every connection of the thread that ran this context's sync code.

    The thread ends with the websocket; its connections would otherwise stay
    open on the database server until garbage-collected, whatever
    CONN_MAX_AGE says.
    """
    if _has_thread(context):
        await sync_to_async(connections.close_all, thread_sensitive=True)()
