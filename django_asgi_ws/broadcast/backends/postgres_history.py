"""Histories in PostgreSQL: the SQL over the tables the app's migrations create.

``django_asgi_ws_history_head`` has a row per group (``PREFIX + group``) with
its incarnation and last sequence number; ``django_asgi_ws_history_entry`` a
row per message kept. Publishing is one statement: it numbers the message
(the head row's lock orders concurrent publishers), stores it, trims the
history to SIZE and TTL, and NOTIFYs the positioned payload, all committed
together, so that listeners never hear of a message the table does not hold.
A payload too long for one NOTIFY is numbered and stored first, then sent in
chunks, in the same transaction.
"""

from __future__ import annotations

import secrets
from typing import Any

import psycopg

from django_asgi_ws.broadcast.backends.postgres_payload import MAX_PAYLOAD, split
from django_asgi_ws.broadcast.history import HistoryPolicy, HistoryRead, Position, new_incarnation

HEAD_TABLE = "django_asgi_ws_history_head"
ENTRY_TABLE = "django_asgi_ws_history_entry"
#: What the positioned prefix ("P" + position + " ") adds to a payload.
POSITION_OVERHEAD = 31

_STORE = f"""
WITH head AS (
    INSERT INTO {HEAD_TABLE} AS h (name, incarnation, sequence)
    VALUES (%(name)s, %(incarnation)s, 1)
    ON CONFLICT (name) DO UPDATE SET sequence = h.sequence + 1
    RETURNING h.incarnation, h.sequence,
        h.incarnation || '-' || lpad(to_hex(h.sequence), 16, '0') AS position
), added AS (
    INSERT INTO {ENTRY_TABLE} (name, sequence, published, frame)
    SELECT %(name)s, sequence, now(), %(frame)s FROM head
), trimmed AS (
    DELETE FROM {ENTRY_TABLE}
    WHERE name = %(name)s AND (
        sequence <= (SELECT sequence FROM head) - %(size)s
        OR published < now() - make_interval(secs => %(ttl)s)
    )
)
"""
#: Store, trim and notify: one statement, one round trip.
PUBLISH = (
    _STORE
    + "SELECT position, pg_notify(%(channel)s, 'P' || position || ' ' || %(payload)s) FROM head"
)
#: Store and trim only, for a payload sent in chunks afterwards.
STORE = _STORE + "SELECT position FROM head"

READ = f"""
SELECT h.incarnation, h.sequence, e.sequence, e.frame
FROM {HEAD_TABLE} h LEFT JOIN {ENTRY_TABLE} e ON e.name = h.name
    AND e.sequence > %(after)s AND e.published >= now() - make_interval(secs => %(ttl)s)
WHERE h.name = %(name)s
ORDER BY e.sequence
"""
_NOTHING_AFTER = 2**63 - 1


def publish_params(
    name: str, channel: str, frame: bytes, payload: str, policy: HistoryPolicy
) -> dict[str, Any]:
    return {
        "name": name,
        "incarnation": new_incarnation(),
        "frame": frame,
        "size": policy.size,
        "ttl": policy.ttl,
        "channel": channel,
        "payload": payload,
    }


def read_params(name: str, policy: HistoryPolicy, after: Position | None) -> dict[str, Any]:
    return {
        "name": name,
        "ttl": policy.ttl,
        "after": _NOTHING_AFTER if after is None else after.sequence,
    }


NOTIFY = "SELECT pg_notify(%s, %s)"


async def publish(connection: psycopg.AsyncConnection[Any], params: dict[str, Any]) -> str:
    """Store, trim and notify (an autocommit *connection*); the message's position."""
    if len(params["payload"]) + POSITION_OVERHEAD <= MAX_PAYLOAD:
        cursor = await connection.execute(PUBLISH, params)
        return _position(await cursor.fetchone())
    async with connection.transaction(), connection.cursor() as cursor:
        await cursor.execute(STORE, params)
        position = _position(await cursor.fetchone())
        await cursor.executemany(NOTIFY, _chunks(params, position))
        return position


def publish_sync(connection: psycopg.Connection[Any], params: dict[str, Any]) -> str:
    """:func:`publish` on a connection of a thread without an event loop."""
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute(STORE, params)
        position = _position(cursor.fetchone())
        cursor.executemany(NOTIFY, _chunks(params, position))
        return position


async def read(connection: psycopg.AsyncConnection[Any], params: dict[str, Any]) -> HistoryRead:
    cursor = await connection.execute(READ, params)
    return parse_read(await cursor.fetchall())


def _position(row: tuple[Any, ...] | None) -> str:
    assert row is not None
    return str(row[0])


def _chunks(params: dict[str, Any], position: str) -> list[tuple[str, str]]:
    """The NOTIFYs of a positioned payload: one, or its chunks."""
    text = f"P{position} {params['payload']}"
    return [(params["channel"], chunk) for chunk in split(text, secrets.token_hex(8))]


def parse_read(rows: list[tuple[Any, ...]]) -> HistoryRead:
    if not rows:
        return HistoryRead(None)
    head = Position(rows[0][0], rows[0][1])
    return HistoryRead(
        head, [(sequence, bytes(frame)) for _, _, sequence, frame in rows if sequence is not None]
    )


def explain(exc: BaseException) -> str:
    """A hint for a missing table, the likely cause of an error on a history or presence."""
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return (
            " A table of the django_asgi_ws app is missing: run 'manage.py migrate' on the "
            "database the backend uses."
        )
    return ""
