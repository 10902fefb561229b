"""Hundreds of open websockets on a real server do not exhaust PostgreSQL.

Each server (uvicorn, daphne) runs tests.settings_postgres in a subprocess,
on a database created and migrated for the test. More sockets than the
server's max_connections stay open at once; each one sends messages that use
the ORM. With CONN_MAX_AGE=0 no socket keeps a backend while it waits, so the
number of backends, read from pg_stat_activity, only follows the messages
being handled, and drops to zero when all the sockets are idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from websockets.asyncio.client import ClientConnection, connect

from tests.live import ROOT, LiveServer, serve_subprocess
from tests.pg import Observer, connect_kwargs

pytestmark = pytest.mark.e2e

SOCKETS = 300  # at least; more if the server allows more than 200 connections
MESSAGES = 3  # per socket, one after the other
IN_FLIGHT = 40  # messages awaiting their reply at any moment (at most max_connections / 4)
HANDSHAKES = 50  # handshakes under way at once (daphne listens with a backlog of 50)


@pytest.fixture
def database() -> Iterator[str]:
    """A database of its own for the test, migrated, dropped at the end."""
    name = f"django_asgi_ws_e2e_{os.getpid()}"
    identifier = sql.Identifier(name)
    with psycopg.connect(**connect_kwargs()) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(identifier))
    try:
        subprocess.run(
            [sys.executable, "-m", "django", "migrate", "--verbosity", "0"],
            cwd=ROOT,
            env={**server_env(name, 0)},
            check=True,
            timeout=60,
        )
        yield name
    finally:
        with psycopg.connect(**connect_kwargs()) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier))


def server_env(database: str, conn_max_age: int) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings_postgres",
        "DJANGO_ASGI_WS_PG_NAME": database,
        "DJANGO_ASGI_WS_PG_CONN_MAX_AGE": str(conn_max_age),
    }


@pytest.fixture
def conn_max_age() -> int:
    """CONN_MAX_AGE of the server; a test parametrizes it to change it."""
    return 0


@pytest.fixture(params=["uvicorn", "daphne"])
def server(
    request: pytest.FixtureRequest, database: str, conn_max_age: int
) -> Iterator[LiveServer]:
    # Both ends of every socket are open files: the server inherits the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * SOCKETS + 1024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        with serve_subprocess(
            [sys.executable, "-m", "tests.serve", request.param],
            env=server_env(database, conn_max_age),
        ) as live:
            yield live
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Sampler:
    """Counts the database's backends over and over, in the background."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self.counts: list[int] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.counts.append(len(await self.observer.backends()))
            await asyncio.sleep(0.005)

    def start(self) -> None:
        self.counts = []
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> list[int]:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return self.counts


async def open_sockets(url: str, count: int) -> list[ClientConnection]:
    handshakes = asyncio.Semaphore(HANDSHAKES)

    async def open_one() -> ClientConnection:
        async with handshakes:
            return await connect(url, open_timeout=10, max_queue=None)

    return list(await asyncio.gather(*(open_one() for _ in range(count))))


async def talk(
    sockets: list[ClientConnection], messages: int, in_flight: int
) -> list[dict[str, Any]]:
    """Every socket sends *messages* messages, one at a time; all the replies."""
    limit = asyncio.Semaphore(in_flight)

    async def one_socket(number: int, ws: ClientConnection) -> list[dict[str, Any]]:
        replies = []
        for message in range(messages):
            async with limit:
                await ws.send(f"socket {number} message {message}")
                replies.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        return replies

    per_socket = await asyncio.gather(*(one_socket(n, ws) for n, ws in enumerate(sockets)))
    return [reply for replies in per_socket for reply in replies]


def errors(replies: list[dict[str, Any]]) -> list[str]:
    return [reply["error"] for reply in replies if "error" in reply]


async def close_all(sockets: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def wait_for_count(
    observer: Observer, expected: int, timeout: float = 5.0
) -> tuple[int, float]:
    """Wait until the database has *expected* backends; the last count and the time taken."""
    started = time.monotonic()
    while (count := len(await observer.backends())) != expected:
        if time.monotonic() - started > timeout:
            break
        await asyncio.sleep(0.02)
    return count, time.monotonic() - started


async def test_more_idle_sockets_than_max_connections_hold_no_backends(
    server: LiveServer, database: str
) -> None:
    observer = await Observer.open(database)
    sampler = Sampler(observer)
    sockets: list[ClientConnection] = []
    try:
        max_connections = await observer.max_connections()
        count = max(SOCKETS, max_connections + 100)
        in_flight = max(1, min(IN_FLIGHT, max_connections // 4))
        started = time.monotonic()
        sockets = await open_sockets(server.url + "/ws/pg/notes/", count // 2)
        sockets += await open_sockets(server.url + "/ws/pg/notes-view/", count - count // 2)

        sampler.start()
        replies = await talk(sockets, MESSAGES, in_flight)
        busy = await sampler.stop()
        # Every message was stored: no "too many clients", no other database error.
        assert errors(replies) == [], server.log()[-5000:]
        assert len(replies) == count * MESSAGES
        assert max(reply["count"] for reply in replies) == count * MESSAGES
        pids = {reply["pid"] for reply in replies}
        # Backends came and went while the messages were handled: there was
        # something to count, and only about as many as the messages under way.
        assert 0 < max(busy) <= max_connections // 2

        # All the sockets open and waiting: their backends are all gone.
        left, settled_in = await wait_for_count(observer, 0)
        assert left == 0
        sampler.start()
        await asyncio.sleep(1.0)
        idle = await sampler.stop()
        assert max(idle) == 0
        assert not await observer.alive(pids)

        # And each of them still works.
        again = await talk(sockets, 1, in_flight)
        assert errors(again) == [], server.log()[-5000:]
        print(
            f"\n{count} sockets, {len(replies)} + {len(again)} messages, "
            f"{len(pids)} distinct backend pids; backends while busy: max {max(busy)} "
            f"over {len(busy)} samples; idle: 0 after {settled_in:.2f} s, max {max(idle)} "
            f"over {len(idle)} samples in 1 s; {time.monotonic() - started:.1f} s"
        )
    finally:
        await close_all(sockets)
        await observer.aclose()


@pytest.mark.parametrize("conn_max_age", [60])
async def test_with_conn_max_age_60_each_idle_socket_holds_a_backend_until_it_closes(
    server: LiveServer, database: str
) -> None:
    """The contrast: persistent connections are seen, one per socket, and closed with it."""
    observer = await Observer.open(database)
    sockets: list[ClientConnection] = []
    try:
        sockets = await open_sockets(server.url + "/ws/pg/notes/", 15)
        sockets += await open_sockets(server.url + "/ws/pg/notes-view/", 15)
        replies = await talk(sockets, MESSAGES, IN_FLIGHT)
        assert errors(replies) == [], server.log()[-5000:]
        pids = {reply["pid"] for reply in replies}
        assert len(pids) == 30  # one backend per socket, reused for each of its messages

        await asyncio.sleep(0.5)
        assert len(await observer.backends()) == 30

        await close_all(sockets)
        left, closed_in = await wait_for_count(observer, 0)
        assert left == 0
        print(f"\n30 idle sockets held 30 backends; 0 left {closed_in:.2f} s after closing")
    finally:
        await close_all(sockets)
        await observer.aclose()
