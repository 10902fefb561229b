"""What a client gets, and what is logged, when a view raises before or after its accept.

Each row is an exception a view may raise, as "Close codes and outcomes"
(docs/close-codes.rst) lists them: before ``accept()`` the handshake is refused
with a status (the test client, like uvicorn, supports the denial-response
extension that carries it), after it the connection is closed with a code and
a reason. Each is raised by a function view and by a ``WebSocketView``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import (
    BadRequest,
    PermissionDenied,
    SuspiciousFileOperation,
    SuspiciousOperation,
)
from django.http import Http404
from django.urls import path

from django_asgi_ws import WebSocket, WebSocketException
from django_asgi_ws.test import WebSocketClient, WebSocketRefused
from django_asgi_ws.views import WebSocketView

Logged = list[tuple[str, int, bool]]  # logger, level, whether with a traceback

TRACEBACK = [("django_asgi_ws", logging.ERROR, True)]


@dataclass(frozen=True)
class Outcome:
    raised: Callable[[], Exception]
    refused: int  # the status of the refusal, raised before accept()
    close_code: int  # raised after accept()
    close_reason: str
    logged: Logged  # at INFO and above, the same before and after accept()


OUTCOMES = {
    "PermissionDenied": Outcome(PermissionDenied, 403, 1008, "", []),
    "Http404": Outcome(Http404, 404, 1008, "", []),
    "SuspiciousOperation": Outcome(
        lambda: SuspiciousOperation("hostile input"),
        400,
        1008,
        "",
        [("django.security.SuspiciousOperation", logging.WARNING, False)],
    ),
    "a SuspiciousOperation subclass": Outcome(
        lambda: SuspiciousFileOperation("hostile path"),
        400,
        1008,
        "",
        [("django.security.SuspiciousFileOperation", logging.WARNING, False)],
    ),
    "BadRequest": Outcome(BadRequest, 400, 1008, "", []),
    "WebSocketException": Outcome(
        lambda: WebSocketException(4001, "Logged out."), 403, 4001, "Logged out.", []
    ),
    "any other exception": Outcome(lambda: ValueError("detail"), 500, 1011, "", TRACEBACK),
}


def function_view(raised: Callable[[], Exception], *, accept: bool) -> Any:
    async def view(websocket: WebSocket) -> None:
        if accept:
            await websocket.accept()
            await websocket.receive_text()
        raise raised()

    return view


def class_view(raised: Callable[[], Exception], *, accept: bool) -> Any:
    class View(WebSocketView):
        async def on_connect(self, websocket: WebSocket) -> None:
            if not accept:
                raise raised()
            await websocket.accept()

        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            raise raised()

    return View.as_view()


VIEWS = pytest.mark.parametrize("make_view", [function_view, class_view], ids=["function", "class"])
ROWS = pytest.mark.parametrize("outcome", OUTCOMES.values(), ids=OUTCOMES.keys())


def logged(caplog: pytest.LogCaptureFixture) -> Logged:
    return [
        (record.name, record.levelno, record.exc_info is not None)
        for record in caplog.records
        if record.levelno >= logging.INFO
    ]


@VIEWS
@ROWS
async def test_raised_before_accept_the_handshake_is_refused_with_the_documented_status(
    client: WebSocketClient,
    ws_routes: Callable[[list[Any]], None],
    caplog: pytest.LogCaptureFixture,
    make_view: Callable[..., Any],
    outcome: Outcome,
) -> None:
    ws_routes([path("ws/raises/", make_view(outcome.raised, accept=False))])
    caplog.set_level(logging.DEBUG)
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/raises/")
    assert refused.value.status_code == outcome.refused
    assert logged(caplog) == outcome.logged


@VIEWS
@ROWS
async def test_raised_after_accept_the_connection_closes_with_the_documented_code(
    client: WebSocketClient,
    ws_routes: Callable[[list[Any]], None],
    caplog: pytest.LogCaptureFixture,
    make_view: Callable[..., Any],
    outcome: Outcome,
) -> None:
    ws_routes([path("ws/raises/", make_view(outcome.raised, accept=True))])
    caplog.set_level(logging.DEBUG)
    async with client.connect("/ws/raises/") as ws:
        await ws.send_text("go")
        assert await ws.wait_closed() == outcome.close_code
    assert ws.close_reason == outcome.close_reason
    assert logged(caplog) == outcome.logged
