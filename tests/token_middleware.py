"""An ASGI middleware that authenticates bearer tokens, as docs/howto/auth.rst shows one.

The token is signed by Django (a username, under a salt of its own) where the
page uses a JWT; the rest has the page's shape.
"""

from __future__ import annotations

from typing import Any

from django.core import signing

from django_asgi_ws.asgi_types import ASGIApp, Receive, Scope, Send

TOKEN_SALT = "tests.token_middleware"


def token_for(username: str) -> str:
    return signing.dumps(username, salt=TOKEN_SALT)


class BearerTokenMiddleware:
    """Set ``scope["user"]`` from an ``Authorization: Bearer <token>`` header."""

    def __init__(self, application: ASGIApp) -> None:
        self.application = application

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            header = dict(scope["headers"]).get(b"authorization")
            if header is not None:  # no header: the session cookie applies
                scope = {**scope, "user": await self.user_for(header.decode("latin-1"))}
        await self.application(scope, receive, send)

    async def user_for(self, header: str) -> Any:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import AnonymousUser

        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return AnonymousUser()
        try:
            username = signing.loads(token, salt=TOKEN_SALT, max_age=3600)
        except signing.BadSignature:
            return AnonymousUser()
        users = get_user_model()._default_manager.filter(username=username, is_active=True)
        return await users.afirst() or AnonymousUser()
