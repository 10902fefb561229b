"""Database connections: a long-lived websocket must not hold one it no longer needs.

Sync code (the ORM, ``sync_to_async``) called from a websocket connection runs
in a thread created for that connection alone, as under Django's own ASGI
handler. Each such thread has its own database connections, so each open
socket that touched the database could keep a connection open: hundreds of
sockets would exhaust PostgreSQL's ``max_connections``. These functions apply
Django's per-request rules (CONN_MAX_AGE, CONN_HEALTH_CHECKS, closing broken
connections) per message instead, in the thread that owns the connections.

The thread is asgiref's: each connection enters a ``ThreadSensitiveContext`` of
its own, as Django's ASGI handler does for each request. Under
``async_to_sync`` (the async test methods of Django's TestCase), asgiref runs
the sync code in the calling thread instead, with the test's transaction.
Leaving the context lets the thread end without waiting for it on the event
loop (asgiref 3.12 and later). Django's ``connection_created`` signal, sent in
the thread that opens a database connection, tells which sockets own one.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import close_old_connections, connections
from django.db.backends.signals import connection_created

if TYPE_CHECKING:
    from django_asgi_ws.asgi_types import ASGIMessage, Receive


@dataclass(eq=False, slots=True)
class ConnectionThread:
    """The thread-sensitive context of one websocket connection."""

    context: ThreadSensitiveContext
    # Whether its sync code opened a database connection (which may still be open).
    owns_database: bool = False
    left: bool = False


# The open connections, each in its own context. (The handler and the receive
# methods test it first: a set tells fastest that there is none.)
thread_executors: set[ConnectionThread] = set()

# The connection being served, in the context of its task and of its sync code.
_current: contextvars.ContextVar[ConnectionThread] = contextvars.ContextVar(
    "django_asgi_ws_connection_thread"
)


def _database_connection_opened(sender: Any, **kwargs: Any) -> None:
    # Sent in the thread that opened it, in a copy of the context of the
    # connection whose sync code did.
    thread = _current.get(None)
    if thread is not None:
        thread.owns_database = True


connection_created.connect(_database_connection_opened, dispatch_uid=__name__)


def open_thread_context() -> tuple[ConnectionThread, contextvars.Token[ConnectionThread]]:
    """Enter a connection's thread-sensitive context (``async with ThreadSensitiveContext()``).

    The connection's sync code (``sync_to_async``) then runs in a thread of its
    own. Inside a context opened by a caller, that one stays in charge.
    Entering only sets a context variable: it never waits, so it is done here
    without a coroutine of ours. ``close_thread_connections`` and
    ``close_thread_context`` leave it.
    """
    thread = ConnectionThread(ThreadSensitiveContext())
    entering = thread.context.__aenter__()  # type: ignore[no-untyped-call]
    try:
        entering.send(None)
    except StopIteration:
        pass
    else:
        entering.close()
        raise RuntimeError("Entering a ThreadSensitiveContext waited for something.")
    thread_executors.add(thread)
    return thread, _current.set(thread)


def close_thread_context(
    thread: ConnectionThread, token: contextvars.Token[ConnectionThread] | None
) -> None:
    """Forget the connection, leaving its context unless ``close_thread_connections`` did.

    Leaving from here (the handshake was refused, or the end of the socket
    failed) does not wait for the context's thread to end: the wait is
    cancelled, as if its task were, and the thread ends by itself.
    """
    try:
        if not thread.left:
            thread.left = True
            _cancel_wait(thread.context.__aexit__(None, None, None))  # type: ignore[no-untyped-call]
    finally:
        thread_executors.discard(thread)
        if token is not None:
            _current.reset(token)


def _cancel_wait(coroutine: Coroutine[Any, Any, Any]) -> None:
    """Run *coroutine* up to its first wait, then cancel that wait, as a task's cancel() does."""
    try:
        waiting = coroutine.send(None)
    except StopIteration:
        return
    cancel = getattr(waiting, "cancel", None)
    if cancel is not None:
        cancel()
    try:
        coroutine.throw(asyncio.CancelledError())
    except (StopIteration, asyncio.CancelledError):
        return
    coroutine.close()


def connection_has_thread() -> bool:
    """Whether the current connection's sync code opened a database connection (cheap)."""
    thread = _current.get(None)
    return thread is not None and thread.owns_database


async def aclose_old_connections() -> bool:
    """What Django does at request_started and request_finished, for this connection.

    Closes connections that are broken, older than CONN_MAX_AGE (at once when
    it is 0) or in a failed state, and re-arms CONN_HEALTH_CHECKS for the next
    query. Does nothing if this connection's sync code never opened one. Returns
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
    meanwhile. For a connection whose sync code opened one (see ``connection_has_thread``).
    """
    kept_connection = await aclose_old_connections()
    message = await receive()
    if kept_connection:
        await aclose_old_connections()
    return message


async def close_thread_connections(thread: ConnectionThread) -> None:
    """Close every database connection of the connection's thread, and leave its context.

    The thread ends with the websocket; its connections would otherwise stay
    open on the database server until garbage-collected, whatever
    CONN_MAX_AGE says. asgiref lets the thread end in a thread of its own, so
    the event loop never waits for it.
    """
    try:
        if thread.owns_database:
            await sync_to_async(connections.close_all, thread_sensitive=True)()
    finally:
        if not thread.left:
            thread.left = True
            await thread.context.__aexit__(None, None, None)  # type: ignore[no-untyped-call]
