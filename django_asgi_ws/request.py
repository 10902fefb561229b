"""What a handshake carries, read as Django reads a request: path, headers, query, cookies,
the ``HttpRequest`` itself, and the session and user it names."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.http import QueryDict
from django.http.cookie import parse_cookie
from django.utils.datastructures import CaseInsensitiveMapping

from django_asgi_ws.sessions import build_request, load_session, load_user

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase
    from django.http import HttpRequest
    from django.urls import ResolverMatch

    from django_asgi_ws.asgi_types import Scope


class HandshakeRequest:
    """The request-like attributes of a :class:`~django_asgi_ws.websocket.WebSocket`."""

    __slots__ = ("_request",)

    scope: Scope
    resolver_match: ResolverMatch | None
    _request: HttpRequest | None

    @property
    def path(self) -> str:
        """The full request path, as ``HttpRequest.path``."""
        return str(self.scope["path"])

    @property
    def client(self) -> tuple[str, int] | None:
        """The client's ``(host, port)``, or ``None`` if the server did not say."""
        client = self.scope.get("client")
        return (client[0], client[1]) if client else None

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference.

        A ticket's subprotocol is not among them (see :mod:`django_asgi_ws.tickets`).
        """
        return list(self.scope.get("subprotocols") or ())

    @property
    def url_args(self) -> tuple[Any, ...]:
        """The positional arguments captured from the URL."""
        return tuple(self.resolver_match.args) if self.resolver_match else ()

    @property
    def url_kwargs(self) -> dict[str, Any]:
        """The keyword arguments captured from the URL."""
        return dict(self.resolver_match.kwargs) if self.resolver_match else {}

    @cached_property
    def headers(self) -> CaseInsensitiveMapping[str]:
        """Handshake headers, names case-insensitive, repeated ones joined."""
        joined: dict[str, str] = {}
        for raw_name, raw_value in self.scope.get("headers") or ():
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            if name in joined:
                separator = "; " if name == "cookie" else ", "
                joined[name] = joined[name] + separator + value
            else:
                joined[name] = value
        return CaseInsensitiveMapping(joined)

    @cached_property
    def GET(self) -> QueryDict:
        """The query string, as a ``QueryDict``."""
        query_string = self.scope.get("query_string", b"")
        if isinstance(query_string, bytes):
            query_string = query_string.decode("utf-8", errors="replace")
        return QueryDict(query_string)

    @cached_property
    def COOKIES(self) -> dict[str, str]:
        """The cookies sent with the handshake."""
        return parse_cookie(self.headers.get("cookie", ""))

    @property
    def request(self) -> HttpRequest:
        """The handshake as a Django ``HttpRequest`` (a GET), built on first use.

        ``get_host()``, ``is_secure()``, ``META``, ``headers`` and the rest work
        as in an HTTP view.
        """
        if self._request is None:
            self._request = build_request(self.scope, self.COOKIES)
        return self._request

    @property
    def session(self) -> SessionBase:
        """The session named by the session cookie, from SESSION_ENGINE's store.

        Changes made before ``accept()`` are saved and the cookie sent with
        the accept; changes made later are saved when the connection ends.
        Its dict methods query the store: call them from sync code (or through
        ``sync_to_async``), as in an async Django view.
        """
        return load_session(self.request)

    @property
    def user(self) -> Any:
        """The user, lazily, as ``request.user`` is (sync code only: use ``auser()``).

        ``scope["user"]``, when an ASGI middleware (or a ticket) set it.
        """
        if self._request is None and self.scope.get("user") is not None:
            return self.scope["user"]
        load_user(self.request)
        return self.request.user

    async def auser(self) -> Any:
        """The user of the session: a ``User`` or an ``AnonymousUser``.

        ``scope["user"]`` instead, when an ASGI middleware (or a ticket) set
        it: no session is read then.
        """
        if self._request is None and self.scope.get("user") is not None:
            # The common case of a token middleware: no HttpRequest to build.
            return self.scope["user"]
        load_user(self.request)
        return await self.request.auser()
