"""How the ASGI handler routes scopes and ends connections, through the test client."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from django.db.backends.signals import connection_created

from django_asgi_ws import WebSocketDisconnect, lifespan
from django_asgi_ws.asgi import get_asgi_application, wrap_asgi_application
from django_asgi_ws.handler import WebSocketApplication
from django_asgi_ws.test import WebSocketClient, WebSocketRefused
from tests.asgi_http import asgi_get
from tests.outcomes import OUTCOMES, Outcome


@pytest.mark.parametrize("outcome", OUTCOMES, ids=lambda outcome: outcome.name)
async def test_every_connection_ends_as_documented(
    client: WebSocketClient, outcome: Outcome, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="django_asgi_ws")
    if outcome.refused:
        with pytest.raises(WebSocketRefused) as refused:
            await client.connect(outcome.path)
        assert refused.value.status_code == outcome.refused
    else:
        async with client.connect(outcome.path) as ws:
            if isinstance(outcome.send, bytes):
                await ws.send_bytes(outcome.send)
            elif outcome.send is not None:
                await ws.send_text(outcome.send)
            with pytest.raises(WebSocketDisconnect) as closed:
                while True:
                    await ws.receive()
            assert closed.value.code == outcome.close_code
            assert closed.value.reason == outcome.close_reason
    tracebacks = [record for record in caplog.records if record.exc_info]
    assert bool(tracebacks) == outcome.traceback_logged


async def test_unknown_path_logs_nothing_above_debug(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(WebSocketRefused):
        await client.connect("/ws/nowhere/")
    assert [r.levelno for r in caplog.records if r.levelno > logging.DEBUG] == []


async def test_refusal_without_denial_extension_is_a_close_before_accept() -> None:
    messages: list[dict[str, Any]] = []
    inbox = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: Any) -> None:
        messages.append(message)

    app = WebSocketApplication(DjangoASGIHandler())
    await app({"type": "websocket", "path": "/ws/nowhere/", "headers": []}, receive, send)
    assert messages == [{"type": "websocket.close", "code": 1000}]


async def test_client_leaving_during_the_handshake_runs_no_view() -> None:
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.disconnect", "code": 1006}

    async def send(message: Any) -> None:
        sent.append(message)

    await WebSocketApplication(DjangoASGIHandler())(
        {"type": "websocket", "path": "/ws/fail-before-accept/"}, receive, send
    )
    assert sent == []


async def test_http_goes_to_the_wrapped_application_unchanged() -> None:
    assert await asgi_get(get_asgi_application(), "/hello/") == (200, b"hello over http")


async def test_an_existing_application_can_be_wrapped(client: WebSocketClient) -> None:
    seen: list[str] = []

    async def http_app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    app = wrap_asgi_application(http_app)
    await app({"type": "http"}, None, None)  # type: ignore[arg-type]
    assert seen == ["http"]
    async with WebSocketClient(app).connect("/ws/ping/") as ws:
        await ws.send_text("ping")
        assert await ws.receive_text() == "pong!"


async def test_other_scope_types_are_an_error() -> None:
    with pytest.raises(ValueError, match="Unsupported ASGI scope type 'webtransport'"):
        await WebSocketApplication(DjangoASGIHandler())({"type": "webtransport"}, None, None)  # type: ignore[arg-type]


class LifespanDriver:
    def __init__(self) -> None:
        self.inbox: list[dict[str, Any]] = [
            {"type": "lifespan.startup"},
            {"type": "lifespan.shutdown"},
        ]
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return self.inbox.pop(0)

    async def send(self, message: Any) -> None:
        self.sent.append(message)


async def test_lifespan_runs_startup_and_shutdown_hooks(lifespan_hooks: Any) -> None:
    calls: list[str] = []

    async def start() -> None:
        calls.append("start")

    async def stop_first() -> None:
        calls.append("stop registered first")

    async def stop_second() -> None:
        calls.append("stop registered second")

    lifespan.on_startup(start)
    lifespan.on_shutdown(stop_first)
    lifespan.on_shutdown(stop_second)
    driver = LifespanDriver()
    await get_asgi_application()({"type": "lifespan"}, driver.receive, driver.send)
    assert [m["type"] for m in driver.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert calls == ["start", "stop registered second", "stop registered first"]


async def test_a_failing_startup_hook_fails_startup(
    lifespan_hooks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    @lifespan.on_startup
    async def broken() -> None:
        raise RuntimeError("no database")

    driver = LifespanDriver()
    await get_asgi_application()({"type": "lifespan"}, driver.receive, driver.send)
    assert driver.sent == [
        {"type": "lifespan.startup.failed", "message": "RuntimeError('no database')"}
    ]
    [record] = caplog.records
    assert record.getMessage() == f"Startup hook {broken.__module__}.{broken.__qualname__} failed"
    assert record.exc_info is not None


async def test_a_startup_hook_failing_at_the_first_connection_refuses_it_as_a_startup_failure(
    lifespan_hooks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    @lifespan.on_startup
    async def broken() -> None:
        raise RuntimeError("no database")

    client = WebSocketClient(get_asgi_application())
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/ping/")
    assert refused.value.status_code == 500
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        f"Startup hook {broken.__module__}.{broken.__qualname__} failed",
        "Refused websocket /ws/ping/: the startup hooks failed.",
    ]


async def test_a_failing_shutdown_hook_still_runs_the_others(lifespan_hooks: Any) -> None:
    calls: list[str] = []

    @lifespan.on_shutdown
    async def cleanup() -> None:
        calls.append("cleanup")

    @lifespan.on_shutdown
    async def broken() -> None:
        raise RuntimeError("cannot flush")

    driver = LifespanDriver()
    await get_asgi_application()({"type": "lifespan"}, driver.receive, driver.send)
    assert driver.sent[-1]["type"] == "lifespan.shutdown.failed"
    assert calls == ["cleanup"]


async def test_every_failing_shutdown_hook_is_logged_and_reported(
    lifespan_hooks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    @lifespan.on_shutdown
    async def close_cache() -> None:
        raise RuntimeError("cache unreachable")

    @lifespan.on_shutdown
    async def flush_queue() -> None:
        raise ValueError("queue full")

    driver = LifespanDriver()
    await get_asgi_application()({"type": "lifespan"}, driver.receive, driver.send)
    assert driver.sent[-1] == {
        "type": "lifespan.shutdown.failed",
        "message": "ValueError('queue full'); RuntimeError('cache unreachable')",
    }
    failures = [(r.getMessage(), r.exc_info[1]) for r in caplog.records if r.exc_info]
    assert [(message, str(error)) for message, error in failures] == [
        (f"Shutdown hook {flush_queue.__module__}.{flush_queue.__qualname__} failed", "queue full"),
        (
            f"Shutdown hook {close_cache.__module__}.{close_cache.__qualname__} failed",
            "cache unreachable",
        ),
    ]


async def test_without_lifespan_startup_hooks_run_once_at_the_first_connection(
    lifespan_hooks: Any,
) -> None:
    calls: list[str] = []

    @lifespan.on_startup
    async def start() -> None:
        calls.append("start")

    client = WebSocketClient(get_asgi_application())
    for _ in range(2):
        async with client.connect("/ws/ping/") as ws:
            await ws.send_text("ping")
            assert await ws.receive_text() == "pong!"
    assert calls == ["start"]


@pytest.mark.django_db(transaction=True)
async def test_database_connections_a_view_opened_close_with_the_socket(
    client: WebSocketClient,
) -> None:
    opened: list[Any] = []

    def record(sender: Any, connection: Any, **kwargs: Any) -> None:
        opened.append(connection)

    connection_created.connect(record)
    try:
        async with client.connect("/ws/notes/") as ws:
            await ws.send_text("note")
            assert await ws.receive_json() == {"count": 1}
            # With CONN_MAX_AGE = 0 it may already be closed: the view released it
            # before waiting for the next message (see tests.test_db_postgres).
            assert len(opened) == 1
    finally:
        connection_created.disconnect(record)
    assert [c.connection for c in opened] == [None]
