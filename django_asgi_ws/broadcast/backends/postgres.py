"""PostgreSQL LISTEN/NOTIFY through psycopg 3: no broker beyond the database.

Each group is the channel ``PREFIX + md5(group)`` (a channel name has at most
63 bytes, a group up to 100 characters), so SQL can publish too::

    SELECT pg_notify('django_asgi_ws:' || md5('chat'), 'J{"text": "hi"}');

A process uses two connections of its own, not Django's: one LISTENs, one
NOTIFYs (in autocommit: a message is sent at once, not when a transaction
commits; ``broadcast.publish_on_commit`` waits for it). Payloads larger than NOTIFY
allows are split into chunks (see ``postgres_payload``).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import hashlib
import logging
import math
import secrets
import threading
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import Any, TypeVar

import psycopg

from django_asgi_ws.broadcast.backends import postgres_history as history
from django_asgi_ws.broadcast.backends import postgres_presence as presence
from django_asgi_ws.broadcast.backends.postgres_connection import (
    connect_options,
    describe,
    is_libpq_string,
    looks_stale,
)
from django_asgi_ws.broadcast.backends.postgres_listen import Listening
from django_asgi_ws.broadcast.backends.postgres_payload import Reassembler, split, to_text
from django_asgi_ws.broadcast.base import Backend
from django_asgi_ws.broadcast.cancellation import run_with_timeout
from django_asgi_ws.broadcast.errors import BroadcastError
from django_asgi_ws.broadcast.history import HistoryPolicy, HistoryRead, Position

logger = logging.getLogger("django_asgi_ws.broadcast")

NOTIFY = history.NOTIFY
T = TypeVar("T")
Error = Callable[[BaseException], BroadcastError]


class PostgresBackend(Listening):
    """Messages through PostgreSQL's LISTEN/NOTIFY.

    The database is ``LOCATION`` (a ``postgresql://`` URL or a libpq
    ``key=value`` string) if set, else ``DATABASES[OPTIONS["DATABASE"]]``
    (default ``"default"``). Other ``OPTIONS`` are psycopg connection arguments.
    Histories and presence are kept in that database, in the tables of the
    app's migrations.
    """

    location_schemes = ("postgres", "postgresql")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._reassembler = Reassembler()
        self._publisher: psycopg.AsyncConnection[Any] | None = None
        self._publish_lock = asyncio.Lock()
        self._sync_publisher: psycopg.Connection[Any] | None = None
        self._sync_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Backend:
        options = connect_options(config.get("LOCATION"), config.get("OPTIONS") or {})
        return super().from_config({**config, "OPTIONS": options})

    @classmethod
    def validate_location(cls, location: object) -> None:
        if not is_libpq_string(location):
            super().validate_location(location)

    @property
    def broker(self) -> str:
        return describe(self.location, self.options)

    def channel_name(self, group: str) -> str:
        return self.prefix + hashlib.md5(group.encode(), usedforsecurity=False).hexdigest()

    def _connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "connect_timeout": max(2, math.ceil(self.timeout)),
            "application_name": "django_asgi_ws.broadcast",
        }
        kwargs.update(self.options)
        kwargs["autocommit"] = True
        return kwargs

    # Lifecycle ----------------------------------------------------------------

    async def ping(self) -> None:
        await self.open()
        try:
            async with self._publish_lock:
                publisher = await run_with_timeout(self._publisher_connection(), self.timeout)
                await run_with_timeout(publisher.execute("SELECT 1"), self.timeout)
        except (psycopg.Error, OSError, asyncio.TimeoutError) as exc:
            await self._drop_publisher()
            raise self.unreachable(exc) from exc

    async def _close(self) -> None:
        async with self._publish_lock:
            await self._drop_publisher()
        await super()._close()

    def close_sync(self) -> None:
        with self._sync_lock:
            self._close_sync_publisher()

    def _close_sync_publisher(self) -> None:
        publisher, self._sync_publisher = self._sync_publisher, None
        if publisher is not None:
            atexit.unregister(self.close_sync)
            publisher.close()

    def _forget_state(self) -> None:
        super()._forget_state()
        self._reassembler.clear()
        self._publisher = None
        self._publish_lock = asyncio.Lock()

    # Publishing ---------------------------------------------------------------

    def _notifications(self, group: str, frame: bytes) -> list[tuple[str, str]]:
        """The (channel, payload) of each NOTIFY that carries *frame* to *group*."""
        channel = self.channel_name(group)
        return [(channel, payload) for payload in split(to_text(frame), secrets.token_hex(8))]

    async def _publish(self, group: str, frame: bytes) -> None:
        notifications = self._notifications(group, frame)
        try:
            async with self._publish_lock:
                await run_with_timeout(self._notify(notifications), self.timeout)
        except (psycopg.Error, OSError, asyncio.TimeoutError) as exc:
            await self._drop_publisher()
            raise self.publish_error(group, exc) from exc

    async def _publisher_connection(self) -> psycopg.AsyncConnection[Any]:
        """The publishing connection, (re)connected if the server closed it while idle."""
        publisher = self._publisher
        if publisher is not None and not looks_stale(publisher):
            return publisher
        await self._drop_publisher()
        publisher = await psycopg.AsyncConnection.connect(
            self.location or "", **self._connect_kwargs()
        )
        self._publisher = publisher
        return publisher

    async def _notify(self, notifications: list[tuple[str, str]]) -> None:
        publisher = await self._publisher_connection()
        if len(notifications) == 1:
            await publisher.execute(NOTIFY, notifications[0])
            return
        # One transaction: the chunks arrive together, before any later message.
        async with publisher.transaction(), publisher.cursor() as cursor:
            await cursor.executemany(NOTIFY, notifications)

    async def _drop_publisher(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            with suppress(Exception):
                await publisher.close()

    def _publish_without_loop(self, group: str, frame: bytes) -> None:
        notifications = self._notifications(group, frame)
        with self._sync_lock:
            try:
                publisher = self._sync_connection()
                with publisher.transaction(), publisher.cursor() as cursor:
                    cursor.executemany(NOTIFY, notifications)
            except (psycopg.Error, OSError) as exc:
                self._close_sync_publisher()
                raise self.publish_error(group, exc) from exc

    # Histories ----------------------------------------------------------------

    def _history_params(self, group: str, frame: bytes, policy: HistoryPolicy) -> dict[str, Any]:
        return history.publish_params(
            self.prefix + group, self.channel_name(group), frame, to_text(frame), policy
        )

    def _history_error(self, group: str, exc: BaseException) -> BroadcastError:
        return BroadcastError(f"{self.publish_error(group, exc)}{history.explain(exc)}")

    async def _table(
        self, what: str, work: Callable[..., Awaitable[T]], *args: Any, error: Error | None = None
    ) -> T:
        """``work(publishing connection, *args)`` within TIMEOUT; BroadcastError if it fails."""
        try:
            async with self._publish_lock:
                publisher = await run_with_timeout(self._publisher_connection(), self.timeout)
                return await run_with_timeout(work(publisher, *args), self.timeout)
        except (psycopg.Error, OSError, asyncio.TimeoutError) as exc:
            await self._drop_publisher()
            if error is not None:
                raise error(exc) from exc
            raise BroadcastError(
                f"Cannot {what}: {self.broker} failed ({type(exc).__name__}: {exc})."
                f"{history.explain(exc)}"
            ) from exc

    async def _publish_history(self, group: str, frame: bytes, policy: HistoryPolicy) -> str:
        params = self._history_params(group, frame, policy)
        error = functools.partial(self._history_error, group)
        return await self._table("publish", history.publish, params, error=error)

    def _publish_history_without_loop(self, group: str, frame: bytes, policy: HistoryPolicy) -> str:
        params = self._history_params(group, frame, policy)
        with self._sync_lock:
            try:
                return history.publish_sync(self._sync_connection(), params)
            except (psycopg.Error, OSError) as exc:
                self._close_sync_publisher()
                raise self._history_error(group, exc) from exc

    async def _read_history(
        self, group: str, policy: HistoryPolicy, after: Position | None
    ) -> HistoryRead:
        params = history.read_params(self.prefix + group, policy, after)
        return await self._table(f"read the history of group {group!r}", history.read, params)

    # Presence -----------------------------------------------------------------

    async def _presence_add(self, group: str, entry: str, member: str) -> None:
        await self._presence_renew({group: {entry: member}})

    async def _presence_remove(self, group: str, entry: str) -> None:
        what = f"untrack in group {group!r}"
        await self._table(what, presence.remove, self.channel_name(group), entry)

    async def _presence_renew(self, members: dict[str, dict[str, str]]) -> None:
        for group, group_members in members.items():
            where = (self.prefix + group, self.channel_name(group))
            what = f"track in group {group!r}"
            await self._table(what, presence.add, *where, group_members, self.presence_timeout)

    async def _presence_read(self, group: str) -> list[str]:
        what = f"read the presence of group {group!r}"
        return await self._table(what, presence.read, self.prefix + group, self.channel_name(group))

    def _sync_connection(self) -> psycopg.Connection[Any]:
        publisher = self._sync_publisher
        if publisher is not None and not looks_stale(publisher):
            return publisher
        self._close_sync_publisher()
        publisher = psycopg.Connection.connect(self.location or "", **self._connect_kwargs())
        self._sync_publisher = publisher
        atexit.register(self.close_sync)
        return publisher
