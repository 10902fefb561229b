"""Brokers for the broadcast tests: the shared services, and private ones to stop and start.

The shared Redis and PostgreSQL (``REDIS_URL``, ``PG*`` environment variables,
else 127.0.0.1 on their default ports) are never stopped; every test isolates
itself with a prefix of its own. The tests that stop a broker start one of
their own, on a free port, as the machine's ``redis-server`` and PostgreSQL 15.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.utils.module_loading import import_string

from django_asgi_ws.broadcast.backends.memory import MemoryBackend
from django_asgi_ws.broadcast.backends.postgres import PostgresBackend
from django_asgi_ws.broadcast.backends.redis import RedisBackend
from django_asgi_ws.broadcast.base import Backend
from django_asgi_ws.broadcast.membership import Message
from django_asgi_ws.broadcast.subscription import Subscription
from tests.pg import database_alias

BACKENDS = ["memory", "redis", "postgres"]
#: Marks a test whose PostgreSQL backend uses the tables of the app's migrations,
#: in the test database pytest-django migrates for the ``pg`` alias.
ON_POSTGRES_TABLES = pytest.mark.django_db(databases=[database_alias()], transaction=True)
#: BACKENDS, for tests of histories and presence.
BACKENDS_WITH_TABLES = ["memory", "redis", pytest.param("postgres", marks=ON_POSTGRES_TABLES)]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def redis_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def postgres_dsn() -> str:
    user = os.environ.get("PGUSER", "postgres")
    password = os.environ.get("PGPASSWORD", "")
    host = os.environ.get("PGHOST", "127.0.0.1")
    port = os.environ.get("PGPORT", "5432")
    database = os.environ.get("PGDATABASE", "test")
    credentials = f"{user}:{password}" if password else user
    return f"postgresql://{credentials}@{host}:{port}/{database}"


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}:"


def unique_group(name: str = "group") -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def make_backend(kind: str, **kwargs: Any) -> Backend:
    """A backend of *kind* on the shared service, with a prefix of its own unless given."""
    kwargs.setdefault("prefix", unique_prefix())
    if kind == "memory":
        return MemoryBackend(**kwargs)
    if kind == "redis":
        kwargs.setdefault("location", redis_url())
        return RedisBackend(**kwargs)
    if kind == "postgres":
        kwargs.setdefault("location", postgres_dsn())
        return PostgresBackend(**kwargs)
    raise ValueError(kind)


class Backends:
    """Backends of one kind for a test, all closed at its end.

    *config* goes to each backend: keyword arguments of :func:`make_backend`,
    or ``HISTORY`` for :func:`history_backend`.
    """

    def __init__(self, kind: str, history: dict[str, Any] | None = None) -> None:
        self.kind = kind
        self.history = history
        self.created: list[Backend] = []

    def new(self, **kwargs: Any) -> Backend:
        if self.history is None:
            backend = make_backend(self.kind, **kwargs)
        else:
            backend = history_backend(self.kind, self.history, **kwargs)
        self.created.append(backend)
        return backend

    def other_process(self, backend: Backend) -> Backend:
        """The same broker and prefix as *backend*, seen from another process."""
        if self.kind == "memory":
            return backend
        return self.new(prefix=backend.prefix)

    async def close(self) -> None:
        for backend in self.created:
            await backend.close()

    async def __aenter__(self) -> Backends:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def history_setting(
    kind: str, history: dict[str, Any], *, prefix: str | None = None, **config: Any
) -> dict[str, Any]:
    """A ``WEBSOCKET_BROADCAST`` value for *kind* whose groups matching *history* keep one.

    On PostgreSQL, it uses the ``pg`` alias: the test database pytest-django
    migrated (the test must be marked ``django_db(databases=["pg"])``).
    """
    setting: dict[str, Any] = {
        "BACKEND": BACKEND_PATHS[kind],
        "PREFIX": prefix or unique_prefix(),
        "HISTORY": history,
        **config,
    }
    if kind == "redis":
        setting.setdefault("LOCATION", redis_url())
    elif kind == "postgres" and "LOCATION" not in setting:
        setting["OPTIONS"] = {"DATABASE": database_alias()}
    return setting


def history_backend(
    kind: str, history: dict[str, Any], *, prefix: str | None = None, **config: Any
) -> Backend:
    """A backend built from :func:`history_setting`."""
    setting = history_setting(kind, history, prefix=prefix, **config)
    return import_string(setting["BACKEND"]).from_config(setting)  # type: ignore[no-any-return]


BACKEND_PATHS = {
    "memory": "django_asgi_ws.broadcast.backends.memory.MemoryBackend",
    "redis": "django_asgi_ws.broadcast.backends.redis.RedisBackend",
    "postgres": "django_asgi_ws.broadcast.backends.postgres.PostgresBackend",
    "late": "tests.broadcast_support.LateConfirmingBackend",
}


def broadcast_setting(kind: str) -> dict[str, Any]:
    """A ``WEBSOCKET_BROADCAST`` value for *kind* (shared service, prefix of its own)."""
    setting: dict[str, Any] = {"BACKEND": BACKEND_PATHS[kind], "PREFIX": unique_prefix()}
    if kind == "redis":
        setting["LOCATION"] = redis_url()
    elif kind == "postgres":
        setting["LOCATION"] = postgres_dsn()
    return setting


class LateConfirmingBackend(MemoryBackend):
    """The memory backend with a broker's delay: a group hears nothing until confirmed.

    A broker (Redis, PostgreSQL) confirms a subscription a moment after the join
    asked for it, and what is published before is lost. This makes the same gap
    in process, and long enough to be hit every time.
    """

    confirmation_delay = 0.02

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.confirmed: set[str] = set()

    def _group_removed(self, group: str) -> None:
        self.confirmed.discard(group)

    async def _group_ready(self, group: str) -> None:
        await asyncio.sleep(self.confirmation_delay)
        if group in self.local_groups:
            self.confirmed.add(group)

    def _deliver(self, group: str, frame: bytes) -> None:
        if group in self.confirmed:
            super()._deliver(group, frame)


async def receive_messages(
    subscription: Subscription, count: int, timeout: float = 5.0
) -> list[Message]:
    """The next *count* messages of *subscription*; TimeoutError if they take too long."""
    return [await asyncio.wait_for(subscription.get_message(), timeout) for _ in range(count)]


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until *predicate* holds; AssertionError after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {predicate}")
        await asyncio.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class RedisServer:
    """A redis-server of our own, without persistence, that a test may stop and start."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
                *("--loglevel", "warning"),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="dws-redis-") as directory:
        server = RedisServer(Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.stop()


class PostgresServer:
    """A PostgreSQL cluster of our own, run as the ``postgres`` OS user (it refuses root)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        command = [str(PG_BIN / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.directory} -c fsync=off"
        )
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "log"),
        )

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def migrate(self) -> None:
        """Run the project's migrations on this cluster's ``postgres`` database.

        Through a DATABASES alias of its own, added for the occasion, as
        ``manage.py migrate --database`` would use one.
        """
        from django.core.management import call_command
        from django.db import connections

        from tests.pg import database_alias

        alias = f"own-cluster-{self.port}"
        connections.settings[alias] = {
            **connections.settings[database_alias()],
            **{"HOST": "127.0.0.1", "PORT": str(self.port), "NAME": "postgres"},
            **{"USER": "postgres", "PASSWORD": ""},
        }
        try:
            call_command("migrate", database=alias, verbosity=0)
        finally:
            connections[alias].close()
            del connections[alias]
            del connections.settings[alias]


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    directory = Path(tempfile.mkdtemp(prefix="dws-pg-"))
    server = PostgresServer(directory)
    try:
        server.init()
        server.start()
        try:
            yield server
        finally:
            if (server.data / "postmaster.pid").exists():
                server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
