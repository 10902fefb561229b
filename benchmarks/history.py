"""What a group's history costs a publish: with history against without, on each backend.

Publishes the same 200-byte JSON message, one at a time, to a group without
history and to one with (``SIZE`` 100, so that the history trims at every
publish once full), on the memory backend, Redis and PostgreSQL, and prints
the median time per publish of each, and their ratio. Rounds alternate the
two groups, so that both see the same machine. No subscriber: this is the
publisher's cost (the message, positioned, reaches subscribers as before).

PostgreSQL keeps histories in the tables of the app's migrations: the script
creates a scratch database on the server of ``--postgres``, migrates it, and
drops it at the end.

From the repository root, with the benchmark venv (``benchmarks/README.md``)::

    python benchmarks/history.py
    python benchmarks/history.py --smoke                 # tiny sizes, a few seconds
    python benchmarks/history.py --backends memory redis
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HISTORY = {"with-*": {"SIZE": 100, "TTL": 300}}
MESSAGE = {"type": "message", "author": "alice", "text": "x" * 150}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["memory", "redis", "postgres"])
    parser.add_argument("--publishes", type=int, default=1000, help="per group and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--smoke", action="store_true", help="50 publishes, 2 rounds")
    args = parser.parse_args()
    if args.smoke:
        args.publishes, args.rounds = 50, 2
    return args


def setup_django(dsn: str | None) -> None:
    """Django settings of the bare minimum: the app, and the scratch database if any."""
    import django
    from django.conf import settings

    databases: dict[str, Any] = {}
    if dsn is not None:
        url = urlsplit(dsn)
        databases["default"] = {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": url.hostname or "127.0.0.1",
            "PORT": str(url.port or 5432),
            "USER": url.username or "postgres",
            "PASSWORD": url.password or "",
            "NAME": url.path.lstrip("/"),
        }
    settings.configure(INSTALLED_APPS=["django_asgi_ws"], DATABASES=databases, USE_TZ=True)
    django.setup()


@contextmanager
def scratch_database(server_dsn: str) -> Iterator[str]:
    """A new database on *server_dsn*'s server, migrated; its DSN. Dropped afterwards."""
    import psycopg

    name = f"django_asgi_ws_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = urlunsplit(urlsplit(server_dsn)._replace(path=f"/{name}"))
    try:
        yield dsn
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def per_publish(backend: Any, group: str, count: int) -> float:
    """Seconds per publish to *group*, over *count* publishes one after the other."""
    started = time.perf_counter()
    for _ in range(count):
        await backend.publish(group, MESSAGE)
    return (time.perf_counter() - started) / count


async def measure(kind: str, location: str | None, args: argparse.Namespace) -> tuple[float, float]:
    """Median seconds per publish without and with history."""
    from django_asgi_ws.broadcast.backends import MEMORY, POSTGRES, REDIS
    from django_asgi_ws.broadcast.loading import create_backend

    config: dict[str, Any] = {
        "BACKEND": {"memory": MEMORY, "redis": REDIS, "postgres": POSTGRES}[kind],
        "PREFIX": f"bench{uuid.uuid4().hex[:8]}:",
        "HISTORY": HISTORY,
    }
    if location is not None:
        config["LOCATION"] = location
    backend = create_backend(config)
    without: list[float] = []
    with_history: list[float] = []
    try:
        await per_publish(backend, "without-warmup", 20)
        await per_publish(backend, "with-warmup", 20)
        for _ in range(args.rounds):
            without.append(await per_publish(backend, "without-group", args.publishes))
            with_history.append(await per_publish(backend, "with-group", args.publishes))
    finally:
        await backend.close()
    return statistics.median(without), statistics.median(with_history)


def main() -> None:
    args = parse_args()
    postgres = "postgres" in args.backends
    rows = []
    with scratch_database(args.postgres) if postgres else _nothing() as dsn:
        setup_django(dsn)
        if dsn is not None:
            from django.core.management import call_command

            call_command("migrate", "django_asgi_ws", verbosity=0)
        for kind in args.backends:
            location = {"memory": None, "redis": args.redis, "postgres": dsn}[kind]
            without, with_history = asyncio.run(measure(kind, location, args))
            rows.append((kind, without, with_history))
    print(
        f"Publish of a {len(str(MESSAGE))}-byte message, one at a time, median of "
        f"{args.rounds} rounds of {args.publishes}"
    )
    print(f"{'backend':<10} {'without history':>16} {'with history':>14} {'ratio':>7}")
    for kind, without, with_history in rows:
        print(
            f"{kind:<10} {without * 1e6:>13.1f} µs {with_history * 1e6:>11.1f} µs "
            f"{with_history / without:>6.2f}x"
        )


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    main()
