"""PostgreSQL connections: where to connect (LOCATION or a DATABASES entry), and spotting
a dead idle one."""

from __future__ import annotations

import select
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

#: Keys of a DATABASES entry's OPTIONS that are Django's, not libpq's.
DJANGO_ONLY_OPTIONS = frozenset(
    {"isolation_level", "server_side_binding", "pool", "assume_role", "cursor_factory"}
)


def connect_options(location: str | None, options: Mapping[str, Any]) -> dict[str, Any]:
    """The backend's OPTIONS: those of the DATABASES entry ``OPTIONS["DATABASE"]`` names
    when there is no *location*, under the setting's own; ValueError if unusable."""
    options = dict(options)
    alias = options.pop("DATABASE", None)
    if location is None:
        from django.db import connections

        alias = alias or "default"
        if alias not in connections:
            raise ValueError(
                f"WEBSOCKET_BROADCAST['OPTIONS']['DATABASE'] is {alias!r}, "
                "which is not in DATABASES."
            )
        settings_dict = connections[alias].settings_dict
        return {**connect_kwargs_from_database(alias, settings_dict), **options}
    if alias is not None:
        raise ValueError(
            "WEBSOCKET_BROADCAST sets both LOCATION and OPTIONS['DATABASE']; keep one."
        )
    return options


def is_libpq_string(location: object) -> bool:
    """Whether *location* is a libpq ``key=value`` string; ValueError if a malformed one."""
    if not isinstance(location, str) or "://" in location:
        return False
    try:
        conninfo_to_dict(location)
    except psycopg.ProgrammingError as exc:
        raise ValueError(f"LOCATION is not a libpq connection string: {exc}") from exc
    return True


def describe(location: str | None, options: Mapping[str, Any]) -> str:
    """The server and database, for messages: never the password."""
    try:
        params = {**conninfo_to_dict(location or ""), **options}
    except psycopg.ProgrammingError:
        params = dict(options)
    host = params.get("host") or "localhost"
    return f"PostgreSQL at {host}:{params.get('port') or 5432}/{params.get('dbname') or ''}"


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
