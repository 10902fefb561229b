"""The lifespan driver for servers without one, and picking a server by name."""

from __future__ import annotations

import contextlib
import logging

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_asgi_ws import lifespan
from django_asgi_ws.asgi import get_asgi_application
from django_asgi_ws.asgi_types import ASGIMessage, Receive, Scope, Send
from django_asgi_ws.servers import get_server_class
from django_asgi_ws.servers.lifespan_driver import LifespanError, LifespanManager

Hooks = tuple[list[lifespan.Hook], list[lifespan.Hook]]


# LifespanManager --------------------------------------------------------------------


async def test_our_handler_runs_the_startup_hooks_on_startup(lifespan_hooks: Hooks) -> None:
    startup_hooks, shutdown_hooks = lifespan_hooks
    events: list[str] = []

    async def started() -> None:
        events.append("startup")

    async def stopped() -> None:
        events.append("shutdown")

    startup_hooks.append(started)
    shutdown_hooks.append(stopped)
    manager = LifespanManager(get_asgi_application())
    await manager.startup()
    assert events == ["startup"]
    await manager.shutdown()
    assert events == ["startup", "shutdown"]
    assert manager.supported is True


async def test_a_failing_startup_hook_of_our_handler_is_a_lifespan_error(
    lifespan_hooks: Hooks,
) -> None:
    async def broken() -> None:
        raise RuntimeError("database not ready")

    lifespan_hooks[0].append(broken)
    manager = LifespanManager(get_asgi_application())
    with pytest.raises(LifespanError, match="database not ready"):
        await manager.startup()


async def test_an_app_raising_on_the_lifespan_scope_does_not_support_it() -> None:
    async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError(f"Unsupported scope type {scope['type']!r}")

    manager = LifespanManager(http_only)
    await manager.startup()
    assert manager.supported is False
    await manager.shutdown()


async def test_shutdown_is_not_sent_to_an_app_without_lifespan_support() -> None:
    received: list[ASGIMessage] = []

    async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(await receive())
        raise ValueError("lifespan is not supported")

    manager = LifespanManager(http_only)
    await manager.startup()
    await manager.shutdown()
    assert received == [{"type": "lifespan.startup"}]


async def test_the_lifespan_scope_is_asgi_3() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    manager = LifespanManager(app)
    await manager.startup()
    await manager.shutdown()
    assert scopes[0]["type"] == "lifespan"
    assert scopes[0]["asgi"]["version"] == "3.0"


async def test_startup_failed_is_a_lifespan_error_with_the_apps_message() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "cache unreachable"})

    manager = LifespanManager(app)
    with pytest.raises(LifespanError, match=r"^cache unreachable$"):
        await manager.startup()


async def test_startup_failed_without_a_message_still_says_what_failed() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": ""})

    with pytest.raises(LifespanError, match=r"lifespan\.startup failed"):
        await LifespanManager(app).startup()


async def test_shutdown_failed_is_a_lifespan_error_with_the_apps_message() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "could not flush"})

    manager = LifespanManager(app)
    await manager.startup()
    with pytest.raises(LifespanError, match="could not flush"):
        await manager.shutdown()


async def test_an_app_returning_without_completing_startup_is_a_lifespan_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    with pytest.raises(LifespanError, match=r"Expected lifespan\.startup\.complete"):
        await LifespanManager(app).startup()


async def test_an_exception_in_the_apps_shutdown_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        raise RuntimeError("could not flush the cache")

    caplog.set_level(logging.DEBUG, logger="django_asgi_ws.server")
    manager = LifespanManager(app)
    await manager.startup()
    with contextlib.suppress(LifespanError):
        await manager.shutdown()
    assert manager.supported is True  # it completed startup, so it speaks lifespan
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    assert "could not flush the cache" in str(errors[0].exc_info[1])


# get_server_class ---------------------------------------------------------------------


def test_an_unknown_server_name_is_improperly_configured_naming_the_choices() -> None:
    with pytest.raises(ImproperlyConfigured) as failed:
        get_server_class("nope")
    assert "'nope'" in str(failed.value)
    assert "uvicorn, daphne" in str(failed.value)


@pytest.mark.parametrize("name", ["uvicorn", "daphne"])
def test_a_server_class_carries_its_name(name: str) -> None:
    assert get_server_class(name).name == name
