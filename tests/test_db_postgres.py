"""Django's per-request database rules, applied per message, on the real PostgreSQL.

Sync code of a websocket runs in a thread of its own, with connections of its
own. These tests watch the server's pg_stat_activity to show that a socket
keeps a backend only as Django's settings allow: CONN_MAX_AGE=0 lets go of it
after every message, CONN_MAX_AGE>0 reuses it until it is too old,
CONN_HEALTH_CHECKS replaces a dead one before the next query, and closing the
socket closes them all.

They use the ``pg`` alias of tests.settings, whose test database pytest-django
creates; the views of tests.pg_ws_views use it for every message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from django_asgi_ws.test import WebSocketClient, WebSocketConnection
from tests.pg import Observer, database_alias
from tests.testapp.models import Note

# "pg" under tests.settings; "default" if the suite runs with tests.settings_postgres.
ALIAS = database_alias()
pytestmark = pytest.mark.django_db(transaction=True, databases=[ALIAS])

FUNCTION_VIEW = "/ws/pg/notes/"
CLASS_VIEW = "/ws/pg/notes-view/"
both_views = pytest.mark.parametrize(
    "path", [pytest.param(FUNCTION_VIEW, id="function"), pytest.param(CLASS_VIEW, id="class")]
)

ConfigureDatabase = Callable[..., None]


@pytest.fixture(autouse=True)
def pg_routes(settings: Any) -> None:
    settings.WEBSOCKET_URLCONF = "tests.pg_ws_urls"


@pytest.fixture
def configure_database(monkeypatch: pytest.MonkeyPatch) -> ConfigureDatabase:
    """Set CONN_MAX_AGE, CONN_HEALTH_CHECKS... of the PostgreSQL alias for this test.

    Each websocket thread reads them from the alias's settings when it opens
    its connection. (override_settings(DATABASES=...) would not reach them:
    Django reads DATABASES once.)
    """

    def configure(**options: Any) -> None:
        for key, value in options.items():
            monkeypatch.setitem(connections.settings[ALIAS], key, value)

    return configure


@pytest.fixture
async def observer() -> AsyncIterator[Observer]:
    """Watches the backends of the test database, over a connection of its own."""
    watcher = await Observer.open(connections.settings[ALIAS]["NAME"])
    try:
        yield watcher
    finally:
        await watcher.aclose()


async def exchange(ws: WebSocketConnection, text: str, *, fails: bool = False) -> dict[str, Any]:
    """Send one message and return the view's reply, checking whether the database failed."""
    await ws.send_text(text)
    reply: dict[str, Any] = await ws.receive_json()
    assert ("error" in reply) is fails, reply
    return reply


@both_views
async def test_with_conn_max_age_0_a_socket_waiting_for_its_next_message_holds_no_backend(
    client: WebSocketClient,
    configure_database: ConfigureDatabase,
    observer: Observer,
    path: str,
) -> None:
    configure_database(CONN_MAX_AGE=0)
    before = await observer.backends()
    async with client.connect(path) as ws:
        first = await exchange(ws, "one")
        assert first["count"] == 1
        # The view now waits for the next message, without a connection.
        assert not await observer.wait_until_gone(await observer.backends() - before)
        assert first["pid"] not in await observer.backends()

        second = await exchange(ws, "two")
        assert second["count"] == 2
        assert second["pid"] != first["pid"]  # a new connection for the new message


async def test_with_conn_max_age_0_many_idle_sockets_hold_no_backends(
    client: WebSocketClient, configure_database: ConfigureDatabase, observer: Observer
) -> None:
    configure_database(CONN_MAX_AGE=0)
    before = await observer.backends()
    async with AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(client.connect(path))
            for path in [FUNCTION_VIEW, CLASS_VIEW] * 10
        ]
        replies = await asyncio.gather(*(exchange(ws, "hello") for ws in sockets))
        assert max(reply["count"] for reply in replies) == 20  # the last count saw them all

        # 20 open sockets, all waiting: no backend of theirs is left.
        assert not await observer.wait_until_gone(await observer.backends() - before)


async def test_with_conn_max_age_60_each_idle_socket_keeps_its_backend_until_it_closes(
    client: WebSocketClient, configure_database: ConfigureDatabase, observer: Observer
) -> None:
    """The contrast of the test above: the count does see backends held between messages."""
    configure_database(CONN_MAX_AGE=60)
    async with AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(client.connect(path))
            for path in [FUNCTION_VIEW, CLASS_VIEW] * 10
        ]
        replies = await asyncio.gather(*(exchange(ws, "hello") for ws in sockets))
        held = {reply["pid"] for reply in replies}
        assert len(held) == 20  # one backend per socket: each has its own thread
        await asyncio.sleep(0.2)
        assert await observer.alive(held) == held

    # Every socket closed its thread's connections on the way out.
    assert not await observer.wait_until_gone(held)


@both_views
async def test_with_conn_max_age_60_consecutive_messages_reuse_one_backend(
    client: WebSocketClient,
    configure_database: ConfigureDatabase,
    observer: Observer,
    path: str,
) -> None:
    configure_database(CONN_MAX_AGE=60)
    async with client.connect(path) as ws:
        replies = [await exchange(ws, text) for text in ["one", "two", "three"]]
        assert [reply["count"] for reply in replies] == [1, 2, 3]
        pids = {reply["pid"] for reply in replies}
        assert len(pids) == 1
        assert await observer.alive(pids) == pids  # still open while the socket idles

    assert not await observer.wait_until_gone(pids)  # closed with the socket


@both_views
async def test_a_backend_older_than_conn_max_age_is_replaced_at_the_next_message(
    client: WebSocketClient,
    configure_database: ConfigureDatabase,
    observer: Observer,
    path: str,
) -> None:
    configure_database(CONN_MAX_AGE=1)
    async with client.connect(path) as ws:
        first = await exchange(ws, "one")
        assert (await exchange(ws, "two"))["pid"] == first["pid"]  # still young: reused
        await asyncio.sleep(1.2)  # the socket idles past CONN_MAX_AGE

        third = await exchange(ws, "three")
        assert third["count"] == 3
        assert third["pid"] != first["pid"]
        assert not await observer.wait_until_gone({first["pid"]})

    assert not await observer.wait_until_gone({third["pid"]})


@both_views
async def test_with_health_checks_a_backend_killed_between_messages_is_replaced_transparently(
    client: WebSocketClient,
    configure_database: ConfigureDatabase,
    observer: Observer,
    path: str,
) -> None:
    configure_database(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)
    async with client.connect(path) as ws:
        first = await exchange(ws, "one")
        await observer.terminate(first["pid"])  # e.g. a restart or an idle timeout

        second = await exchange(ws, "two")
        assert second["count"] == 2  # no error reached the view
        assert second["pid"] != first["pid"]
        assert (await exchange(ws, "three"))["pid"] == second["pid"]

    assert not await observer.wait_until_gone({second["pid"]})


@both_views
async def test_without_health_checks_a_killed_backend_fails_one_message_then_is_replaced(
    client: WebSocketClient,
    configure_database: ConfigureDatabase,
    observer: Observer,
    path: str,
) -> None:
    """Django's rule for broken connections: the error is seen once, the next one reconnects.

    Also the contrast of the test above: killing the backend is noticed.
    """
    configure_database(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=False)
    async with client.connect(path) as ws:
        first = await exchange(ws, "one")
        await observer.terminate(first["pid"])

        await exchange(ws, "two", fails=True)
        third = await exchange(ws, "three")
        assert third["count"] == 2  # "two" was never stored
        assert third["pid"] != first["pid"]

    assert not await observer.wait_until_gone({third["pid"]})


# The test's own queries ----------------------------------------------------------------


async def test_an_async_tests_own_queries_keep_a_backend_until_closed_in_asgirefs_thread(
    observer: Observer,
) -> None:
    """Why docs/testing.rst has its fixture: PostgreSQL cannot drop a database in use.

    Outside a websocket, an async test's ORM calls run in asgiref's shared worker
    thread, whose connection outlives the test unless closed in that thread.
    """
    await sync_to_async(connections.close_all)()  # what earlier tests left there
    before = await observer.backends()
    assert await Note.objects.using(ALIAS).acount() == 0
    opened = await observer.backends() - before
    assert len(opened) == 1
    await asyncio.sleep(0.2)
    assert await observer.alive(opened) == opened

    await sync_to_async(connections.close_all)()  # the fixture's line
    assert not await observer.wait_until_gone(opened)
