"""Logging in and out from a websocket view, persisted like an HTTP login.

Django's ``login()`` gives the user a new session key (against session
fixation), and only a response can hand the browser its new cookie. For a
websocket the one response is the handshake's, so :func:`alogin` must run
before ``accept()``; the cookie then goes out with the accept. Logging out
works at any time: the session is deleted on the server, so the browser's
cookie no longer names a logged-in user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async

from django_asgi_ws.sessions import load_session, load_user
from django_asgi_ws.websocket import WebSocketState

if TYPE_CHECKING:
    from django.http import HttpRequest

    from django_asgi_ws.websocket import WebSocket

__all__ = ["alogin", "alogout"]


async def alogin(websocket: WebSocket, user: Any, backend: str | None = None) -> None:
    """Log *user* in for this connection and for the browser's later requests.

    Call it before ``accept()``, so the handshake response carries the new
    session cookie. Raises RuntimeError after ``accept()``.
    """
    if websocket.state is not WebSocketState.CONNECTING:
        raise RuntimeError(
            "alogin() must run before accept(): login gives the user a new session "
            "cookie, and only the handshake response can send it to the browser. "
            f"The connection is {websocket.state.name}."
        )
    request = websocket.request
    load_user(request)
    load_session(request)  # not loaded for a user the scope named
    await sync_to_async(_login, thread_sensitive=True)(request, user, backend)


async def alogout(websocket: WebSocket) -> None:
    """Log the user out: the session is flushed on the server, whenever this runs."""
    request = websocket.request
    load_user(request)
    load_session(request)
    await sync_to_async(_logout, thread_sensitive=True)(request)


def _login(request: HttpRequest, user: Any, backend: str | None) -> None:
    from django.contrib.auth import login

    login(request, user, backend)
    request._acached_user = user  # type: ignore[attr-defined]


def _logout(request: HttpRequest) -> None:
    from django.contrib.auth import logout
    from django.contrib.auth.models import AnonymousUser

    logout(request)
    request._acached_user = AnonymousUser()  # type: ignore[attr-defined]
