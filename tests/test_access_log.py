"""runasgi's access log: runserver-style lines on ``django.server`` for requests and websockets."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from django_asgi_ws.access_log import AccessLogMiddleware
from django_asgi_ws.asgi_types import ASGIApp, ASGIMessage, Receive, Scope, Send

CLIENT = ("127.0.0.1", 5000)


@pytest.fixture
def server_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    """Capture ``django.server``, which Django's default LOGGING keeps from propagating."""
    monkeypatch.setattr(logging.getLogger("django.server"), "propagate", True)
    caplog.set_level(logging.DEBUG, logger="django.server")
    return caplog


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "django.server"]


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in records(caplog)]


def http_scope(path: str = "/path", query_string: bytes = b"") -> Scope:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query_string,
        "http_version": "1.1",
        "headers": [],
        "client": CLIENT,
    }


def websocket_scope(path: str = "/ws/x/") -> Scope:
    return {"type": "websocket", "path": path, "query_string": b"", "headers": [], "client": CLIENT}


async def run(app: ASGIApp, scope: Scope, incoming: list[ASGIMessage]) -> list[ASGIMessage]:
    """Run *app* behind the middleware with scripted incoming messages; return what it sent."""
    pending = list(incoming)
    sent: list[ASGIMessage] = []

    async def receive() -> ASGIMessage:
        return pending.pop(0)

    async def send(message: ASGIMessage) -> None:
        sent.append(message)

    await AccessLogMiddleware(app)(scope, receive, send)
    return sent


def responding(status: int, *chunks: bytes) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        for index, chunk in enumerate(chunks):
            more = index < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


CONNECT: ASGIMessage = {"type": "websocket.connect"}


# HTTP -------------------------------------------------------------------------------


async def test_a_request_logs_method_target_status_and_size_at_info(
    server_log: pytest.LogCaptureFixture,
) -> None:
    await run(responding(200, b"hello"), http_scope("/path", b"q=1"), [])
    assert lines(server_log) == ['"GET /path?q=1 HTTP/1.1" 200 5']
    assert records(server_log)[0].levelno == logging.INFO
    assert records(server_log)[0].status_code == 200


async def test_a_ticket_in_the_query_string_is_never_logged(
    server_log: pytest.LogCaptureFixture,
) -> None:
    query = b"a=1&ws_ticket=eyJ.secret.sig&ws%5Fticket=eyJ.other.sig&b=2"
    await run(responding(200, b""), http_scope("/path", query), [])
    assert lines(server_log) == [
        '"GET /path?a=1&ws_ticket=[redacted]&ws%5Fticket=[redacted]&b=2 HTTP/1.1" 200 0'
    ]


async def test_a_request_without_query_string_logs_the_path_alone(
    server_log: pytest.LogCaptureFixture,
) -> None:
    await run(responding(200, b""), http_scope("/path"), [])
    assert lines(server_log) == ['"GET /path HTTP/1.1" 200 0']


async def test_a_streamed_response_logs_one_line_with_the_total_size(
    server_log: pytest.LogCaptureFixture,
) -> None:
    await run(responding(200, b"abc", b"de", b""), http_scope(), [])
    assert lines(server_log) == ['"GET /path HTTP/1.1" 200 5']


async def test_the_response_reaches_the_server_unchanged() -> None:
    sent = await run(responding(200, b"hello"), http_scope(), [])
    assert sent == [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.body", "body": b"hello", "more_body": False},
    ]


async def test_a_404_logs_at_warning(server_log: pytest.LogCaptureFixture) -> None:
    await run(responding(404, b"missing"), http_scope(), [])
    assert lines(server_log) == ['"GET /path HTTP/1.1" 404 7']
    assert records(server_log)[0].levelno == logging.WARNING
    assert records(server_log)[0].status_code == 404


async def test_a_500_logs_at_error(server_log: pytest.LogCaptureFixture) -> None:
    await run(responding(500, b"oops"), http_scope(), [])
    assert lines(server_log) == ['"GET /path HTTP/1.1" 500 4']
    assert records(server_log)[0].levelno == logging.ERROR
    assert records(server_log)[0].status_code == 500


# Websockets ---------------------------------------------------------------------------


async def test_an_accepted_websocket_logs_connect_then_the_client_disconnect(
    server_log: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()

    await run(app, websocket_scope(), [CONNECT, {"type": "websocket.disconnect", "code": 1001}])
    assert lines(server_log) == [
        "WebSocket CONNECT /ws/x/ [127.0.0.1:5000]",
        "WebSocket DISCONNECT /ws/x/ [127.0.0.1:5000] 1001",
    ]
    assert [record.levelno for record in records(server_log)] == [logging.INFO, logging.INFO]


@pytest.mark.parametrize("query", [b"", b"room=1&ws_ticket=eyJ.secret.sig"])
async def test_a_websocket_closed_by_the_app_logs_its_close_code(
    server_log: pytest.LogCaptureFixture, query: bytes
) -> None:
    """Websocket lines show the path alone: never the query string, nor a ticket in it."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4001})

    await run(app, {**websocket_scope(), "query_string": query}, [CONNECT])
    assert lines(server_log) == [
        "WebSocket CONNECT /ws/x/ [127.0.0.1:5000]",
        "WebSocket CLOSE /ws/x/ [127.0.0.1:5000] 4001",
    ]


async def test_a_websocket_closed_before_accept_logs_a_403_reject_at_warning(
    server_log: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close"})

    await run(app, websocket_scope(), [CONNECT])
    assert lines(server_log) == ["WebSocket REJECT /ws/x/ [127.0.0.1:5000] 403"]
    assert records(server_log)[0].levelno == logging.WARNING
    assert records(server_log)[0].status_code == 403


async def test_a_websocket_denial_response_logs_a_reject_with_its_status(
    server_log: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 404, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"Not Found"})

    await run(app, websocket_scope(), [CONNECT])
    assert lines(server_log) == ["WebSocket REJECT /ws/x/ [127.0.0.1:5000] 404"]
    assert records(server_log)[0].levelno == logging.WARNING
    assert records(server_log)[0].status_code == 404


async def test_close_then_disconnect_logs_one_end_line(
    server_log: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})
        await receive()  # the server reports the end of the closing handshake

    await run(app, websocket_scope(), [CONNECT, {"type": "websocket.disconnect", "code": 1000}])
    assert lines(server_log) == [
        "WebSocket CONNECT /ws/x/ [127.0.0.1:5000]",
        "WebSocket CLOSE /ws/x/ [127.0.0.1:5000] 1000",
    ]


async def test_disconnect_then_close_logs_one_end_line(
    server_log: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        await send({"type": "websocket.close", "code": 1000})

    await run(app, websocket_scope(), [CONNECT, {"type": "websocket.disconnect", "code": 1006}])
    assert lines(server_log) == [
        "WebSocket CONNECT /ws/x/ [127.0.0.1:5000]",
        "WebSocket DISCONNECT /ws/x/ [127.0.0.1:5000] 1006",
    ]


async def test_a_client_leaving_during_the_handshake_logs_nothing(
    server_log: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    await run(app, websocket_scope(), [{"type": "websocket.disconnect", "code": 1006}])
    assert lines(server_log) == []


async def test_a_websocket_scope_without_client_logs_a_dash(
    server_log: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})

    scope = {**websocket_scope(), "client": None}
    await run(app, scope, [CONNECT])
    assert lines(server_log) == ["WebSocket CONNECT /ws/x/ [-]"]


async def test_websocket_messages_reach_the_app_and_the_server_unchanged() -> None:
    received: list[ASGIMessage] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(await receive())
        await send({"type": "websocket.accept", "subprotocol": "chat"})
        received.append(await receive())
        await send({"type": "websocket.send", "text": "pong"})

    text = {"type": "websocket.receive", "text": "ping"}
    sent = await run(app, websocket_scope(), [CONNECT, text])
    assert received == [CONNECT, text]
    assert sent == [
        {"type": "websocket.accept", "subprotocol": "chat"},
        {"type": "websocket.send", "text": "pong"},
    ]


# Lifespan -------------------------------------------------------------------------------


async def test_lifespan_passes_through_with_the_servers_own_callables(
    server_log: pytest.LogCaptureFixture,
) -> None:
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.extend([scope, receive, send])

    async def receive() -> ASGIMessage:
        raise AssertionError("not called")

    async def send(message: ASGIMessage) -> None:
        raise AssertionError("not called")

    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    await AccessLogMiddleware(app)(scope, receive, send)
    assert seen == [scope, receive, send]
    assert seen[1] is receive
    assert seen[2] is send
    assert lines(server_log) == []
