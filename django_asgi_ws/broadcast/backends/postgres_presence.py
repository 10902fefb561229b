"""Presence in PostgreSQL: rows of ``django_asgi_ws_presence``, from the app's migrations.

Each statement changes the rows and sends the join or leave events with
``pg_notify`` on the group's channel, committed together. Renewing an entry
that was swept meanwhile inserts it again, with a join event.
"""

from __future__ import annotations

from typing import Any

import psycopg

TABLE = "django_asgi_ws_presence"

# (xmax = 0): the row was inserted, not updated.
ADD = f"""
WITH added AS (
    INSERT INTO {TABLE} AS p (entry, name, member, expires)
    SELECT entry, %(name)s, member, now() + make_interval(secs => %(timeout)s)
    FROM unnest(%(entries)s::text[], %(members)s::text[]) AS t(entry, member)
    ON CONFLICT (entry) DO UPDATE SET expires = EXCLUDED.expires
    RETURNING p.member, (p.xmax = 0) AS inserted
)
SELECT pg_notify(%(channel)s, 'Ejoin ' || member) FROM added WHERE inserted
"""

REMOVE = f"""
WITH gone AS (DELETE FROM {TABLE} WHERE entry = %(entry)s RETURNING member)
SELECT pg_notify(%(channel)s, 'Eleave ' || member) FROM gone
"""

# The expired rows are deleted and their leave events sent; the statement's
# snapshot still sees them, hence the filter on expires.
READ = f"""
WITH gone AS (
    DELETE FROM {TABLE} WHERE name = %(name)s AND expires < now() RETURNING member
), told AS (
    SELECT pg_notify(%(channel)s, 'Eleave ' || member) FROM gone
)
SELECT member FROM {TABLE}
WHERE name = %(name)s AND expires >= now() AND (SELECT count(*) FROM told) >= 0
"""


async def add(
    connection: psycopg.AsyncConnection[Any],
    name: str,
    channel: str,
    members: dict[str, str],
    timeout: float,
) -> None:
    await connection.execute(
        ADD,
        {
            "name": name,
            "channel": channel,
            "entries": list(members),
            "members": list(members.values()),
            "timeout": timeout,
        },
    )


async def remove(connection: psycopg.AsyncConnection[Any], channel: str, entry: str) -> None:
    await connection.execute(REMOVE, {"channel": channel, "entry": entry})


async def read(connection: psycopg.AsyncConnection[Any], name: str, channel: str) -> list[str]:
    cursor = await connection.execute(READ, {"name": name, "channel": channel})
    return [member for (member,) in await cursor.fetchall()]
