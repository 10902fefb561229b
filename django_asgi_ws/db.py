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
Django's ``connection_created`` signal, sent in the thread that opens a
database connection, tells which sockets own one.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import close_old_connections, connections
from django.db.backends.signals import connection_created

if TYPE_CHECKING:
    from django_asgi_ws.asgi_types import ASGIMessage, Receive


@dataclass(eq=False, slots=True)
class ConnectionThread:
    """What the database rules need to know of one websocket connection's sync code."""

    # Whether its sync code opened a database connection (which may still be open).
    owns_database: bool = False


# The open connections. (The receive methods test it first: an empty set tells
# fastest that no socket has a thread to look after.)
open_connections: set[ConnectionThread] = set()

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


class ConnectionThreadContext:
    """``async with ConnectionThreadContext():`` around one websocket connection.

    Its sync code (``sync_to_async``) runs in a thread of its own, as under
    Django's ASGI handler for a request (a ``ThreadSensitiveContext`` opened by
    a caller stays in charge), and on the way out the database connections that
    thread opened are closed: they would otherwise stay open on the database
    server until garbage-collected, whatever CONN_MAX_AGE says. asgiref (3.12
    and later) lets the thread end in a thread of its own, so the event loop
    never waits for it.
    """

    __slots__ = ("_context", "_thread", "_token")

    def __init__(self) -> None:
        self._thread = ConnectionThread()
        self._context = ThreadSensitiveContext()
        self._token: contextvars.Token[ConnectionThread] | None = None

    async def __aenter__(self) -> ConnectionThread:
        await self._context.__aenter__()  # type: ignore[no-untyped-call]
        self._token = _current.set(self._thread)
        open_connections.add(self._thread)
        return self._thread

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if self._thread.owns_database:
                await sync_to_async(connections.close_all, thread_sensitive=True)()
        finally:
            open_connections.discard(self._thread)
            if self._token is not None:
                _current.reset(self._token)
            await self._context.__aexit__(*exc_info)  # type: ignore[no-untyped-call]


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
