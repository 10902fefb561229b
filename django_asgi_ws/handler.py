"""The ASGI application: http to Django, websocket to our views, lifespan answered."""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction
from django.conf import settings
from django.urls import set_script_prefix

from django_asgi_ws import lifespan, routing
from django_asgi_ws.asgi_types import ASGIApp, Receive, Scope, Send
from django_asgi_ws.db import close_thread_connections
from django_asgi_ws.status import CloseCode
from django_asgi_ws.websocket import (
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    WebSocketState,
)

logger = logging.getLogger("django_asgi_ws")

DENIAL_EXTENSION = "websocket.http.response"


class ASGIHandler:
    """Wrap an HTTP ASGI application (usually Django's) to add websockets and lifespan.

    Django's own handler raises on any scope but ``http``, so websocket and
    lifespan scopes are diverted here before it sees them.
    """

    def __init__(self, http_application: ASGIApp) -> None:
        self.http_application = http_application
        self._started = False
        self._startup: asyncio.Future[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type == "websocket":
            await self.handle_websocket(scope, receive, send)
        elif scope_type == "http":
            if not self._started:
                await self.ensure_started()
            await self.http_application(scope, receive, send)
        elif scope_type == "lifespan":
            await self.handle_lifespan(scope, receive, send)
        else:
            raise ValueError(f"Unsupported ASGI scope type {scope_type!r}.")

    # Lifespan ------------------------------------------------------------------

    async def ensure_started(self) -> None:
        """Run the startup hooks once, whichever comes first: lifespan or a connection."""
        if self._started:
            return
        if self._startup is None:
            self._startup = asyncio.ensure_future(lifespan.run_startup())
        try:
            # shield: one caller giving up must not cancel the startup the others wait for
            await asyncio.shield(self._startup)
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._startup = None  # let the next caller try again
            raise
        self._started = True

    async def handle_lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.ensure_started()
                except Exception as exc:
                    logger.exception("Startup hook failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await lifespan.run_shutdown()
                except Exception as exc:
                    logger.exception("Shutdown hook failed")
                    await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    # Websocket -----------------------------------------------------------------

    async def handle_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return  # the client left during the handshake
        async with ThreadSensitiveContext() as context:
            try:
                if not self._started:
                    await self.ensure_started()
                script_name = get_script_name(scope)
                set_script_prefix(script_name)
                path_info = get_path_info(scope, script_name)
                match = routing.resolve(path_info)
            except Exception:
                logger.exception("Cannot route websocket %s", scope.get("path"))
                await refuse(scope, send, HTTPStatus.INTERNAL_SERVER_ERROR)
                return
            if match is None:
                logger.debug("No websocket route for %s", path_info)
                await refuse(scope, send, HTTPStatus.NOT_FOUND)
                return
            websocket = WebSocket(scope, receive, send, resolver_match=match, path_info=path_info)
            try:
                await self.run_view(websocket, send, match.func, match.args, match.kwargs)
            finally:
                await close_thread_connections(context)

    async def run_view(
        self, websocket: WebSocket, send: Send, view: Any, args: Any, kwargs: dict[str, Any]
    ) -> None:
        """Run *view* and make sure the connection ends the same way on every server."""
        try:
            if not iscoroutinefunction(view):
                raise TypeError(
                    f"The websocket view {_name(view)} is not an async function "
                    "(system check django_asgi_ws.E004)."
                )
            await view(websocket, *args, **kwargs)
        except WebSocketDisconnect:
            # The client left (raised by receive or send), or the view raised it itself.
            await self._end(websocket, send, CloseCode.NORMAL_CLOSURE, "", HTTPStatus.FORBIDDEN)
        except WebSocketException as exc:
            logger.debug("Websocket %s closed with %s: %s", websocket.path, exc.code, exc.reason)
            await self._end(websocket, send, exc.code, exc.reason, HTTPStatus.FORBIDDEN)
        except Exception:
            logger.exception("Internal error in websocket view for %s", websocket.path)
            await self._end(
                websocket, send, CloseCode.INTERNAL_ERROR, "", HTTPStatus.INTERNAL_SERVER_ERROR
            )
        else:
            await self._end(websocket, send, CloseCode.NORMAL_CLOSURE, "", HTTPStatus.FORBIDDEN)

    async def _end(
        self, websocket: WebSocket, send: Send, code: int, reason: str, refusal: HTTPStatus
    ) -> None:
        """Close what the view left open: refuse a pending handshake, close an open socket."""
        if websocket.state is WebSocketState.CONNECTING:
            websocket.state = WebSocketState.DISCONNECTED
            await refuse(websocket.scope, send, refusal)
        elif websocket.state is WebSocketState.CONNECTED:
            await websocket.close(code, reason)


def get_script_name(scope: Scope) -> str:
    """The script prefix, as Django's own ASGI handler computes it."""
    return str(settings.FORCE_SCRIPT_NAME or scope.get("root_path", "") or "")


def get_path_info(scope: Scope, script_name: str) -> str:
    """The decoded path below the script prefix; ``raw_path`` is never used."""
    path = str(scope["path"])
    if script_name and path.startswith(script_name):
        path = path[len(script_name) :]
    if not path.startswith("/"):
        path = "/" + path
    return path


async def refuse(scope: Scope, send: Send, status: HTTPStatus) -> None:
    """Refuse the handshake: an HTTP response where the server allows it, else 403."""
    if DENIAL_EXTENSION in (scope.get("extensions") or {}):
        body = f"{status.value} {status.phrase}\n".encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status.value,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": int(CloseCode.NORMAL_CLOSURE)})


def _name(view: Any) -> str:
    return f"{getattr(view, '__module__', '?')}.{getattr(view, '__qualname__', repr(view))}"
