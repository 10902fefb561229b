"""The ASGI application: http to Django, websocket to our views, lifespan answered.

A handshake, top to bottom: the watchdog of the event loop (``loop_watchdog``,
started at the first call on a loop), the startup hooks (``lifespan``), Host
and Origin (``origin``), the script prefix, path and route (``routing``), a
ticket if the client presents one (``tickets.handshake``), the view with its
``WebSocket`` (``websocket``), and how an exception ends the connection
(``endings``). This module only calls them in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from http import HTTPStatus
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async

from django_asgi_ws import routing
from django_asgi_ws.asgi_types import ASGIApp, Receive, Scope, Send
from django_asgi_ws.blocked_report import dotted_name, serving
from django_asgi_ws.conf import get_settings
from django_asgi_ws.db import ConnectionThreadContext
from django_asgi_ws.deprecation import renamed
from django_asgi_ws.endings import Ending, Report, ending_for
from django_asgi_ws.lifespan import Startup, serve_lifespan
from django_asgi_ws.limits import connection_limits
from django_asgi_ws.loop_watchdog import stop_watching_running_loop, watch_running_loop
from django_asgi_ws.origin import check_host_and_origin
from django_asgi_ws.refusal import send_refusal
from django_asgi_ws.sessions import save_session_at_close, session_was_touched
from django_asgi_ws.status import CONNECTED, CONNECTING, DISCONNECTED, CloseCode
from django_asgi_ws.tickets.handshake import admit_ticket, presents_ticket
from django_asgi_ws.websocket import WebSocket

__all__ = ["WebSocketApplication"]

logger = logging.getLogger("django_asgi_ws")


class WebSocketApplication:
    """Wrap an HTTP ASGI application (usually Django's) to add websockets and lifespan.

    Django's own ``ASGIHandler`` raises on any scope but ``http``, so websocket
    and lifespan scopes are diverted here before it sees them.
    """

    def __init__(self, http_application: ASGIApp) -> None:
        self.http_application = http_application
        self.startup = Startup()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watch_running_loop()
        scope_type = scope["type"]
        if scope_type == "websocket":
            await self.handle_websocket(scope, receive, send)
        elif scope_type == "http":
            if not self.startup.done:
                await self.startup.ensure()
            token = serving.set((scope, None))  # for the report of a blocked loop
            try:
                await self.http_application(scope, receive, send)
            finally:
                serving.reset(token)
        elif scope_type == "lifespan":
            try:
                await serve_lifespan(self.startup, receive, send)
            finally:
                stop_watching_running_loop()  # the server stops
        else:
            raise ValueError(f"Unsupported ASGI scope type {scope_type!r}.")

    async def handle_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return  # the client left during the handshake
        if not self.startup.done:
            try:
                await self.startup.ensure()
            except Exception:  # run_startup logged the traceback
                logger.error("Refused websocket %s: the startup hooks failed.", scope.get("path"))
                await send_refusal(scope, send, HTTPStatus.INTERNAL_SERVER_ERROR)
                return
        async with ConnectionThreadContext():
            websocket = open_websocket(scope, receive, send)
            if not isinstance(websocket, WebSocket):
                await send_refusal(scope, send, websocket)
                return
            token = serving.set((scope, websocket.resolver_match))  # should it block the loop
            # The view runs here rather than in a method of its own: every message
            # resumes each coroutine between the server and the view, once per level.
            try:
                # In the try: the handshake timeout covers the ticket's queries too.
                if presents_ticket(scope) and not await admit_ticket(websocket):
                    return
                match = websocket.resolver_match
                assert match is not None
                view = match.func
                if not is_async_view(view):
                    raise TypeError(
                        f"The websocket view {dotted_name(view)} is not an async function "
                        "(system check django_asgi_ws.E004)."
                    )
                await view(websocket, *match.args, **match.kwargs)
            except BaseException as exc:
                ending = ending_for(exc, handshake_timed_out=websocket.handshake_timed_out)
                if ending is None:
                    raise
                if ending.report is Report.TIMEOUT:
                    _uncancel()
                report(websocket, exc, ending)
                await end(websocket, ending.code, ending.reason, ending.refusal)
            else:
                if websocket.state is not DISCONNECTED:
                    await end(websocket, CloseCode.NORMAL_CLOSURE, "", HTTPStatus.FORBIDDEN)
            finally:
                serving.reset(token)
                request = websocket._request
                if request is not None and session_was_touched(request):
                    await sync_to_async(save_session_at_close)(request)


def open_websocket(scope: Scope, receive: Receive, send: Send) -> WebSocket | HTTPStatus:
    """The handshake's ``WebSocket``, its route resolved, or the status refusing it."""
    try:
        settings = get_settings()
        refusal = check_host_and_origin(scope, settings)
        if refusal is not None:
            return refusal
        found = routing.route(scope, settings)
        if found is None:
            logger.debug("No websocket route for %s", scope.get("path"))
            return HTTPStatus.NOT_FOUND
        match, path_info = found
        return WebSocket(
            scope,
            receive,
            send,
            resolver_match=match,
            path_info=path_info,
            limits=connection_limits(settings),
        )
    except Exception:
        logger.exception("Cannot route websocket %s", scope.get("path"))
        return HTTPStatus.INTERNAL_SERVER_ERROR


async def end(websocket: WebSocket, code: int, reason: str, refusal: HTTPStatus) -> None:
    """Close what the view left open: refuse a pending handshake, close an open socket."""
    if websocket.state is CONNECTING:
        await websocket.refuse(refusal)
    elif websocket.state is CONNECTED:
        await websocket.close(code, reason)


def report(websocket: WebSocket, exc: BaseException, ending: Ending) -> None:
    """Log how a view's exception ended its connection, as its ``Report`` says."""
    kind = ending.report
    if kind is Report.NOTHING:
        return
    path = websocket.path
    if kind is Report.DEBUG:
        logger.debug("Websocket %s ended by %r: close code %s", path, exc, ending.code)
    elif kind is Report.SECURITY:
        logging.getLogger(f"django.security.{type(exc).__name__}").warning(
            "%s (websocket %s)", exc, path
        )
    elif kind is Report.TIMEOUT:
        logger.warning(
            "Websocket view for %s neither accepted nor refused the handshake within "
            "%s s (WEBSOCKET_HANDSHAKE_TIMEOUT)",
            path,
            connection_limits(get_settings()).handshake_timeout,
        )
    else:
        log_view_error(websocket)


def log_view_error(websocket: WebSocket) -> None:
    """Log the exception once, with what AdminEmailHandler needs to mail it like a 500."""
    extra: dict[str, Any] = {"status_code": 500}
    with contextlib.suppress(Exception):  # a scope too broken to describe: mail without it
        extra["request"] = websocket.request
    logger.exception("Internal error in websocket view for %s", websocket.path, extra=extra)


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


def _uncancel() -> None:
    """Forget the handshake timeout's cancellation (Python 3.11+ counts them)."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        task.uncancel()


__getattr__ = renamed(__name__, ASGIHandler=WebSocketApplication)
