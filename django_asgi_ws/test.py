"""An in-process websocket client for tests: no server, no sockets, real ASGI."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from http.cookies import SimpleCookie
from importlib import import_module
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from django.http import HttpRequest

from django_asgi_ws.asgi_types import ASGIApp
from django_asgi_ws.deprecation import renamed
from django_asgi_ws.handler import WebSocketApplication
from django_asgi_ws.inprocess import PendingConnection, WebSocketConnection, WebSocketRefused

__all__ = ["WebSocketClient", "WebSocketConnection", "WebSocketRefused"]


class WebSocketClient:
    """Connect to the websocket routes of the project under test, in process.

    *application* is the ASGI application to test; by default, the one
    :func:`~django_asgi_ws.asgi.get_asgi_application` returns. *timeout* is
    how many seconds any wait for the application may last before the test
    fails instead of hanging. *headers* are sent with every handshake.
    Refusals and close codes are those a real server sends.
    """

    def __init__(
        self,
        application: ASGIApp | None = None,
        *,
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._application = application
        #: Seconds a wait for the application may last.
        self.timeout = timeout
        #: Headers sent with every handshake.
        self.headers = dict(headers or {})
        #: The cookies sent with every handshake: those :meth:`force_login`
        #: sets, and those handshake responses set, as a browser keeps them.
        self.cookies: SimpleCookie = SimpleCookie()

    @property
    def application(self) -> ASGIApp:
        """The ASGI application under test."""
        if self._application is None:
            self._application = WebSocketApplication(DjangoASGIHandler())
        return self._application

    def connect(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        subprotocols: list[str] | None = None,
        cookies: Mapping[str, str] | None = None,
        root_path: str = "",
        timeout: float | None = None,
    ) -> PendingConnection:
        """Open a connection to *path*: ``async with client.connect(path) as ws:``.

        *path* may include a query string. Entering the block performs the
        handshake and gives a :class:`WebSocketConnection`, or raises
        :exc:`WebSocketRefused`; leaving it closes the connection if it is still
        open. (``ws = await client.connect(path)`` works too; then close it.)

        *headers* are added to the client's, *subprotocols* are offered to the
        view, *cookies* are sent along with the client's own, *root_path* is the
        ASGI ``root_path`` (a script prefix, which *path* does not include), and
        *timeout* overrides the client's for this connection.
        """
        session = WebSocketConnection(
            self.application,
            self._build_scope(path, headers, subprotocols, cookies, root_path),
            self.timeout if timeout is None else timeout,
            cookie_jar=self.cookies,
        )
        return PendingConnection(session)

    def force_login(self, user: Any, backend: str | None = None) -> None:
        """Log *user* in: later connections carry a session cookie for them.

        The session is saved with ``SESSION_ENGINE``, so this uses the
        database: in an async test, ``await`` :meth:`aforce_login` instead.
        *backend* defaults to the user's ``backend`` attribute, or the first of
        ``AUTHENTICATION_BACKENDS``.
        """
        from django.contrib.auth import login

        engine = import_module(settings.SESSION_ENGINE)
        request = HttpRequest()
        request.session = engine.SessionStore()
        if backend is None:
            backend = getattr(user, "backend", None) or settings.AUTHENTICATION_BACKENDS[0]
        login(request, user, backend)
        request.session.save()
        self.cookies[settings.SESSION_COOKIE_NAME] = request.session.session_key or ""

    async def aforce_login(self, user: Any, backend: str | None = None) -> None:
        """:meth:`force_login` for async tests (it uses the database)."""
        await sync_to_async(self.force_login)(user, backend)

    def _build_scope(
        self,
        url: str,
        headers: Mapping[str, str] | None,
        subprotocols: list[str] | None,
        cookies: Mapping[str, str] | None,
        root_path: str,
    ) -> dict[str, Any]:
        parts = urlsplit(url)
        path = unquote(parts.path) or "/"
        all_headers = {
            "host": "testserver",
            "connection": "Upgrade",
            "upgrade": "websocket",
            "sec-websocket-version": "13",
            "sec-websocket-key": base64.b64encode(os.urandom(16)).decode(),
        }
        all_headers.update({name.lower(): value for name, value in self.headers.items()})
        all_headers.update({name.lower(): value for name, value in (headers or {}).items()})
        jar = {name: morsel.value for name, morsel in self.cookies.items()}
        jar.update(cookies or {})
        if jar:
            all_headers["cookie"] = "; ".join(f"{name}={value}" for name, value in jar.items())
        if subprotocols:
            all_headers["sec-websocket-protocol"] = ", ".join(subprotocols)
        return {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "ws",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 50000),
            "root_path": root_path,
            "path": root_path + path,
            "raw_path": quote(root_path + path).encode(),
            "query_string": parts.query.encode(),
            "headers": [
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in all_headers.items()
            ],
            "subprotocols": list(subprotocols or []),
            # Advertise denial responses as uvicorn does, so refusals carry a status.
            "extensions": {"websocket.http.response": {}},
        }


__getattr__ = renamed(__name__, WebSocketSession=WebSocketConnection)
