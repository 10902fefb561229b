"""The ASGI application: http to Django, websocket to our views, lifespan answered."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404
from django.urls import set_script_prefix
from django.urls.resolvers import ResolverMatch

from django_asgi_ws import deadlines, lifespan, routing
from django_asgi_ws.asgi_types import ASGIApp, Receive, Scope, Send
from django_asgi_ws.db import (
    close_thread_connections,
    close_thread_context,
    open_thread_context,
    thread_executors,
)
from django_asgi_ws.limits import (
    ConnectionLimits,
    HandshakeSettings,
    get_connection_limits,
    get_handshake_settings,
)
from django_asgi_ws.origin import Refusal, get_raw_host, refusal_for
from django_asgi_ws.sessions import save_session_at_close, session_was_touched
from django_asgi_ws.status import CloseCode
from django_asgi_ws.websocket import (
    CONNECTED,
    CONNECTING,
    DISCONNECTED,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
)

logger = logging.getLogger("django_asgi_ws")
security_logger = logging.getLogger("django_asgi_ws.security")

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
        context, token = open_thread_context()
        try:
            try:
                if not self._started:
                    await self.ensure_started()
                config = get_handshake_settings()
                route = route_websocket(scope, config)
            except Exception:
                logger.exception("Cannot route websocket %s", scope.get("path"))
                route = HTTPStatus.INTERNAL_SERVER_ERROR
            if isinstance(route, HTTPStatus):
                await refuse(scope, send, route)
                return
            match, path_info = route
            websocket = open_websocket(scope, receive, send, match, path_info, config.limits)
            # The view runs here rather than in a method of its own: every message
            # resumes each coroutine between the server and the view, once per level.
            try:
                view = match.func
                if not is_async_view(view):
                    raise TypeError(
                        f"The websocket view {_name(view)} is not an async function "
                        "(system check django_asgi_ws.E004)."
                    )
                await view(websocket, *match.args, **match.kwargs)
            except BaseException as exc:
                ending = ending_for(websocket, exc)
                if ending is None:
                    raise
                await self._end(websocket, send, *ending)
            else:
                if websocket.state is not DISCONNECTED:
                    await self._end(
                        websocket, send, CloseCode.NORMAL_CLOSURE, "", HTTPStatus.FORBIDDEN
                    )
            finally:
                websocket._cancel_handshake_timer()
                if websocket._request is not None and session_was_touched(websocket._request):
                    await sync_to_async(save_session_at_close)(websocket.request)
                if thread_executors:  # else no sync code ran: no connection to close
                    await close_thread_connections(context)
        finally:
            close_thread_context(context, token)

    async def _end(
        self, websocket: WebSocket, send: Send, code: int, reason: str, refusal: HTTPStatus
    ) -> None:
        """Close what the view left open: refuse a pending handshake, close an open socket."""
        if websocket.state is CONNECTING:
            websocket.state = DISCONNECTED
            await refuse(websocket.scope, send, refusal)
        elif websocket.state is CONNECTED:
            await websocket.close(code, reason)


Ending = tuple[int, str, HTTPStatus]  # close code and reason, or the refusal's status


def ending_for(websocket: WebSocket, exc: BaseException) -> Ending | None:
    """How a view that raised *exc* ends its connection, the same way on every server.

    None: the exception is not the view's to answer (a cancellation, an exit), and
    goes on up.
    """
    if isinstance(exc, WebSocketDisconnect):
        # The client left (raised by receive or send), or the view raised it itself.
        return CloseCode.NORMAL_CLOSURE, "", HTTPStatus.FORBIDDEN
    if isinstance(exc, WebSocketException):
        logger.debug("Websocket %s closed with %s: %s", websocket.path, exc.code, exc.reason)
        return exc.code, exc.reason, HTTPStatus.FORBIDDEN
    if isinstance(exc, PermissionDenied):
        logger.debug("Permission denied for websocket %s", websocket.path)
        return CloseCode.POLICY_VIOLATION, "", HTTPStatus.FORBIDDEN
    if isinstance(exc, Http404):
        logger.debug("Not found: websocket %s", websocket.path)
        return CloseCode.POLICY_VIOLATION, "", HTTPStatus.NOT_FOUND
    if isinstance(exc, (SuspiciousOperation, BadRequest)):
        # Hostile or broken input (too many query fields, a bad Host...), as Django
        # answers it for HTTP: 400, logged on django.security.<name>, no traceback.
        if isinstance(exc, SuspiciousOperation):
            logging.getLogger(f"django.security.{type(exc).__name__}").warning(
                "%s (websocket %s)", exc, websocket.path
            )
        return CloseCode.POLICY_VIOLATION, "", HTTPStatus.BAD_REQUEST
    if isinstance(exc, asyncio.CancelledError):
        if not websocket.handshake_timed_out:
            return None
        _uncancel()
        logger.warning(
            "Websocket view for %s neither accepted nor refused the handshake within "
            "%s s (WEBSOCKET_HANDSHAKE_TIMEOUT)",
            websocket.path,
            get_connection_limits().handshake_timeout,
        )
        return CloseCode.TRY_AGAIN_LATER, "", HTTPStatus.SERVICE_UNAVAILABLE
    if isinstance(exc, Exception):
        log_view_error(websocket)
        return CloseCode.INTERNAL_ERROR, "", HTTPStatus.INTERNAL_SERVER_ERROR
    return None


@functools.lru_cache(maxsize=512)
def _is_async_function(view: Any) -> bool:
    return iscoroutinefunction(view)


def is_async_view(view: Any) -> bool:
    """Whether *view* is an async function, remembered per view (views live as long as
    their URLconf)."""
    try:
        return _is_async_function(view)
    except TypeError:  # an unhashable callable
        return iscoroutinefunction(view)


def route_websocket(
    scope: Scope, config: HandshakeSettings
) -> HTTPStatus | tuple[ResolverMatch, str]:
    """The view for a handshake and its path below the script prefix, or why it is refused."""
    refusal = check_host_and_origin(scope, config.use_x_forwarded_host)
    if refusal is not None:
        return refusal
    script_name = get_script_name(scope, config.force_script_name)
    if script_name:
        # Without one, the prefix every context starts with, "/", is already right:
        # reading asgiref's per-context storage to check would cost more than the rest.
        set_script_prefix(script_name)
    path_info = get_path_info(scope, script_name)
    match = routing.resolve(path_info)
    if match is None:
        logger.debug("No websocket route for %s", path_info)
        return HTTPStatus.NOT_FOUND
    return match, path_info


def open_websocket(
    scope: Scope,
    receive: Receive,
    send: Send,
    match: ResolverMatch,
    path_info: str,
    limits: ConnectionLimits,
) -> WebSocket:
    """The view's WebSocket, with the connection *limits* and the handshake timer started."""
    websocket = WebSocket(
        scope,
        receive,
        send,
        resolver_match=match,
        path_info=path_info,
        max_message_size=limits.max_message_size,
        rate_limiter=limits.rate_limiter(),
    )
    if limits.handshake_timeout is not None:
        websocket.handshake_task = asyncio.current_task()
        websocket.handshake_timer = deadlines.for_loop(
            asyncio.get_running_loop(), limits.handshake_timeout, _expire_handshake
        )
        websocket.handshake_timer.add(websocket)
    return websocket


def check_host_and_origin(scope: Scope, use_x_forwarded_host: bool) -> HTTPStatus | None:
    """Refuse a Host that ALLOWED_HOSTS does not allow (400) or a foreign Origin (403)."""
    raw_headers = scope.get("headers") or ()
    if not isinstance(raw_headers, (list, tuple)):
        raw_headers = list(raw_headers)
    # One dict() call in C rather than a Python loop over every header; a
    # repeated header, rare, shows as a shorter dict and is then looked into.
    headers = dict(raw_headers)
    if len(headers) != len(raw_headers):
        repeated = repeated_host_header(raw_headers)
        if repeated is not None:
            # Which one would a proxy, or Django, believe? Refuse rather than guess.
            security_logger.warning(
                "Refused websocket %s with more than one %s header.",
                scope.get("path"),
                repeated.decode(),
            )
            return HTTPStatus.BAD_REQUEST
    origin_header = headers.get(b"origin")
    origin = origin_header.decode("latin-1") if origin_header is not None else None
    host = get_raw_host(headers, scope, use_x_forwarded_host)
    refusal = refusal_for(host, origin)
    if refusal is None:
        return None
    if refusal is Refusal.HOST:
        security_logger.warning(
            "Invalid Host header %r for websocket %s: you may need to add it to ALLOWED_HOSTS.",
            host,
            scope.get("path"),
        )
        return HTTPStatus.BAD_REQUEST
    security_logger.warning(
        "Refused websocket %s from origin %r: not an allowed origin "
        "(see WEBSOCKET_ALLOWED_ORIGINS).",
        scope.get("path"),
        origin,
    )
    return HTTPStatus.FORBIDDEN


def repeated_host_header(raw_headers: Iterable[Iterable[bytes]]) -> bytes | None:
    """The name of a Host or X-Forwarded-Host header sent more than once, if any."""
    seen: set[bytes] = set()
    for name, _ in raw_headers:
        if name in _HOST_HEADERS:
            if name in seen:
                return name
            seen.add(name)
    return None


_HOST_HEADERS = frozenset({b"host", b"x-forwarded-host"})


def _expire_handshake(websocket: Any) -> None:
    """WEBSOCKET_HANDSHAKE_TIMEOUT ran out: stop the view, whose handshake is then refused."""
    task = websocket.handshake_task
    if websocket.state is CONNECTING and task is not None:
        websocket.handshake_timed_out = True
        task.cancel()


def _uncancel() -> None:
    """Forget the handshake timeout's cancellation (Python 3.11+ counts them)."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        task.uncancel()


def log_view_error(websocket: WebSocket) -> None:
    """Log the exception once, with what AdminEmailHandler needs to mail it like a 500."""
    extra: dict[str, Any] = {"status_code": 500}
    with contextlib.suppress(Exception):  # a scope too broken to describe: mail without it
        extra["request"] = websocket.request
    logger.exception("Internal error in websocket view for %s", websocket.path, extra=extra)


def get_script_name(scope: Scope, force_script_name: str | None = None) -> str:
    """The script prefix, as Django's own ASGI handler computes it."""
    if force_script_name is None:
        force_script_name = get_handshake_settings().force_script_name
    return force_script_name or str(scope.get("root_path") or "")


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
