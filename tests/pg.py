"""The real PostgreSQL server of the database tests, seen from outside Django.

Django's connections are what the tests examine, so the tests watch the server
through a connection of their own: it is opened with psycopg directly, to the
maintenance database ``postgres``, and so never counts among the backends of the
database under test.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from django.conf import settings

MAINTENANCE_DATABASE = "postgres"


def database_alias() -> str:
    """The PostgreSQL alias: ``pg`` under tests.settings, ``default`` in tests.settings_postgres."""
    return "pg" if "pg" in settings.DATABASES else "default"


def connect_kwargs(dbname: str = MAINTENANCE_DATABASE) -> dict[str, Any]:
    """psycopg.connect() arguments for *dbname* on the server the ``pg`` alias names."""
    database = settings.DATABASES[database_alias()]
    return {
        "host": database["HOST"],
        "port": database["PORT"],
        "user": database["USER"],
        "password": database["PASSWORD"] or None,
        "dbname": dbname,
        "autocommit": True,
    }


# Client backends only: an autovacuum worker also shows the database's name.
BACKENDS = """
    SELECT pid FROM pg_stat_activity
    WHERE datname = %s AND backend_type = 'client backend' AND pid <> pg_backend_pid()
"""


class Observer:
    """Queries pg_stat_activity about one database, over its own connection.

    Every query runs in its own transaction (autocommit), so each one sees a
    fresh snapshot of the server's activity.
    """

    def __init__(self, connection: psycopg.AsyncConnection[Any], dbname: str) -> None:
        self.connection = connection
        self.dbname = dbname

    @classmethod
    async def open(cls, dbname: str) -> Observer:
        return cls(await psycopg.AsyncConnection.connect(**connect_kwargs()), dbname)

    async def aclose(self) -> None:
        await self.connection.close()

    async def backends(self) -> set[int]:
        """The pids of the backends connected to the database now."""
        cursor = await self.connection.execute(BACKENDS, (self.dbname,))
        return {pid for (pid,) in await cursor.fetchall()}

    async def alive(self, pids: set[int]) -> set[int]:
        """Those of *pids* that are still connected to the database."""
        return pids & await self.backends()

    async def wait_until_gone(self, pids: set[int], timeout: float = 5.0) -> set[int]:
        """Wait until none of *pids* is left; return those still there at the deadline.

        A backend leaves pg_stat_activity once its process has exited, a moment
        after the client closed the connection.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = await self.alive(pids)
            if not left or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.02)

    async def terminate(self, pid: int) -> None:
        """Kill a backend as an administrator (or a server restart) would."""
        await self.connection.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert not await self.wait_until_gone({pid}), f"backend {pid} outlived its termination"

    async def max_connections(self) -> int:
        cursor = await self.connection.execute("SHOW max_connections")
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])
