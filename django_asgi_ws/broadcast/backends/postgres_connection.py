"""PostgreSQL connections: arguments from a DATABASES entry, and spotting a dead idle one."""

from __future__ import annotations

import select
from collections.abc import Mapping
from typing import Any

import psycopg

#: Keys of a DATABASES entry's OPTIONS that are Django's, not libpq's.
DJANGO_ONLY_OPTIONS = frozenset(
    {"isolation_level", "server_side_binding", "pool", "assume_role", "cursor_factory"}
)


def connect_kwargs_from_database(alias: str, settings_dict: Mapping[str, Any]) -> dict[str, Any]:
    """psycopg connection arguments for a ``DATABASES`` entry; ValueError if not PostgreSQL."""
    engine = str(settings_dict.get("ENGINE", ""))
    if "postgresql" not in engine and "postgis" not in engine:
        raise ValueError(
            f"The PostgreSQL broadcast backend uses DATABASES[{alias!r}], whose ENGINE is "
            f"{engine!r}: set WEBSOCKET_BROADCAST['LOCATION'] to a PostgreSQL DSN, or "
            "WEBSOCKET_BROADCAST['OPTIONS']['DATABASE'] to a PostgreSQL alias."
        )
    kwargs: dict[str, Any] = {}
    for key, name in (
        ("NAME", "dbname"),
        ("USER", "user"),
        ("PASSWORD", "password"),
        ("HOST", "host"),
        ("PORT", "port"),
    ):
        if settings_dict.get(key):
            kwargs[name] = settings_dict[key]
    options = settings_dict.get("OPTIONS") or {}
    kwargs.update({k: v for k, v in options.items() if k not in DJANGO_ONLY_OPTIONS})
    return kwargs


def looks_stale(connection: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle connection was closed by the server (it would have sent data)."""
    if connection.closed:
        return True
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
