"""The handshake as a Django request, with the session and user a Django view would see.

Nothing here runs unless a view asks for ``websocket.request``,
``websocket.session`` or ``websocket.user``: a socket that never looks costs
nothing. Loading and saving go through Django's own SessionMiddleware and
AuthenticationMiddleware, so SESSION_ENGINE, the cookie settings and the
authentication backends behave exactly as for HTTP.
"""

from __future__ import annotations

import contextlib
import io
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase

    from django_asgi_ws.asgi_types import Scope


def build_request(scope: Scope, cookies: dict[str, str]) -> HttpRequest:
    """An ``HttpRequest`` (a GET) describing the handshake; it has no body."""
    query_string = scope.get("query_string", b"")
    if isinstance(query_string, bytes):
        query_string = query_string.decode("utf-8", errors="replace")
    http_scope = {
        **scope,
        # A handshake has no body: headers describing one would only be parsed to fail.
        "headers": [
            (name, value) for name, value in scope.get("headers") or () if name not in _BODY_HEADERS
        ],
        "type": "http",
        "method": "GET",
        "scheme": "https" if scope.get("scheme") == "wss" else "http",
        "query_string": query_string,
    }
    request = ASGIRequest(http_scope, io.BytesIO())
    request.COOKIES = cookies
    user = scope.get("user")
    if user is not None:
        attach_user(request, user)
    return request


def attach_user(request: HttpRequest, user: Any) -> None:
    """Make *user* the request's user, as the scope named it: no session is read for it.

    An ASGI middleware around the application (or a ticket presented at the
    handshake) sets ``scope["user"]``; it then stands for the session's user,
    as AuthenticationMiddleware would have set it.
    """
    request.user = user
    request._acached_user = user  # type: ignore[attr-defined]
    request.auser = lambda: _auser(request)


_BODY_HEADERS = frozenset({b"content-type", b"content-length", b"transfer-encoding"})


def _passthrough(request: HttpRequest) -> HttpResponse:
    raise AssertionError("never called: only the middleware's hooks are used")


def _session_middleware() -> Any:
    from django.contrib.sessions.middleware import SessionMiddleware

    return SessionMiddleware(_passthrough)


def load_session(request: HttpRequest) -> SessionBase:
    """Attach the session named by the session cookie, with SESSION_ENGINE's store.

    The store is lazy: the session backend is only read when a key is.
    """
    if not hasattr(request, "session"):
        _session_middleware().process_request(request)
    return request.session


def load_user(request: HttpRequest) -> None:
    """Attach ``request.user`` and ``request.auser`` as AuthenticationMiddleware does.

    A request whose scope named its user already has them.
    """
    if hasattr(request, "user"):
        return
    if not _auth_installed():
        raise ImproperlyConfigured("websocket.user needs 'django.contrib.auth' in INSTALLED_APPS.")
    from django.contrib.auth.middleware import AuthenticationMiddleware

    load_session(request)
    AuthenticationMiddleware(_passthrough).process_request(request)
    if not hasattr(request, "auser"):  # Django < 5.0
        request.auser = lambda: _auser(request)


async def _auser(request: HttpRequest) -> Any:
    if not hasattr(request, "_acached_user"):
        from django.contrib.auth import get_user

        request._acached_user = await sync_to_async(get_user)(request)  # type: ignore[attr-defined]
    return request._acached_user  # type: ignore[attr-defined]


def _auth_installed() -> bool:
    from django.apps import apps

    return apps.is_installed("django.contrib.auth")


def session_was_touched(request: HttpRequest | None) -> bool:
    session = getattr(request, "session", None) if request is not None else None
    return session is not None and (session.accessed or session.modified)


def save_session_for_handshake(request: HttpRequest) -> list[tuple[bytes, bytes]]:
    """Save the session as SessionMiddleware would for a response; return its Set-Cookie headers.

    The handshake response is the only chance to give the browser a new
    session cookie (after a login before accept, say): it is sent with
    ``websocket.accept``.
    """
    response = _session_middleware().process_response(request, HttpResponse())
    morsel = response.cookies.get(settings.SESSION_COOKIE_NAME)
    if morsel is not None:
        # What the browser will hold from now on.
        request.COOKIES[settings.SESSION_COOKIE_NAME] = morsel.value
    return [
        (b"set-cookie", morsel.output(header="").strip().encode("latin-1"))
        for morsel in response.cookies.values()
    ]


def save_session_at_close(request: HttpRequest) -> None:
    """Save what the view changed in the session after accept, when the socket ends.

    No cookie can be sent any more, so only a session the browser already has
    a cookie for is saved: a new one would be unreachable.
    """
    from django.contrib.sessions.backends.base import UpdateError

    session = request.session
    cookie_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if session.modified and cookie_key and session.session_key == cookie_key:
        # UpdateError: deleted meanwhile (a logout elsewhere), nothing left to update
        with contextlib.suppress(UpdateError):
            session.save()
