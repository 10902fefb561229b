"""PostgreSQL's side of the listening connection: LISTEN, UNLISTEN, and the notifications.

The supervisor of ``BrokerBackend`` runs ``_session`` for each connection's
life; the commands to LISTEN and UNLISTEN come through its FIFO, and each
notification is joined from its chunks and handed over as a frame.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

import psycopg
from psycopg import sql

from django_asgi_ws.broadcast.backends.postgres_payload import Reassembler
from django_asgi_ws.broadcast.broker import BrokerBackend, resolve
from django_asgi_ws.broadcast.cancellation import cancel_and_wait, run_with_timeout

logger = logging.getLogger("django_asgi_ws.broadcast")


class Listening(BrokerBackend):
    """The listening half of :class:`PostgresBackend`."""

    _reassembler: Reassembler

    def _connect_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    async def _session(self) -> None:
        connection = await psycopg.AsyncConnection.connect(
            self.location or "", **self._connect_kwargs()
        )
        try:
            snapshot = self._session_started()
            self._reassembler.clear()
            if snapshot:
                await connection.execute(_listen([channel for channel, _ in snapshot]))
            for _, ready in snapshot:
                resolve(ready)
            self._session_subscribed()
            while True:
                await self._run_commands(connection)
                if not await self._receive(connection):
                    # Silent for a while: make sure the server is still there.
                    await run_with_timeout(connection.execute("SELECT 1"), self.timeout)
                self._reassembler.expire()
        finally:
            with suppress(Exception):
                await connection.close()

    async def _run_commands(self, connection: psycopg.AsyncConnection[Any]) -> None:
        while (command := self._next_command()) is not None:
            verb = "LISTEN" if command.subscribe else "UNLISTEN"
            await connection.execute(sql.SQL(verb + " {}").format(sql.Identifier(command.channel)))
            resolve(command.done)

    async def _receive(self, connection: psycopg.AsyncConnection[Any]) -> bool:
        """Deliver notifications until a command waits (True) or the interval passes (False).

        ``notifies()`` holds the connection until it stops, so it is stopped (by
        cancellation, which never loses a notification: psycopg only reads from
        the socket after the wait) whenever a LISTEN or UNLISTEN must run.
        """
        drain = asyncio.ensure_future(self._drain(connection))
        wake = asyncio.ensure_future(self._wait_for_command())
        try:
            done, _ = await asyncio.wait(
                {drain, wake},
                timeout=self.health_check_interval,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            await cancel_and_wait(drain, wake)
        if drain in done:
            drain.result()  # the connection failed: raise its error
        return bool(done)

    async def _drain(self, connection: psycopg.AsyncConnection[Any]) -> None:
        async for notify in connection.notifies():
            group = self._group_for(notify.channel)
            if group is None:
                continue
            try:
                frame = self._reassembler.feed(notify.channel, notify.payload)
            except ValueError as exc:
                logger.warning("Skipped a malformed notification on group %r: %s", group, exc)
                continue
            if frame is not None:
                self._group_frame(group, frame)
        raise psycopg.OperationalError("the notification stream ended")


def _listen(channels: list[str]) -> sql.Composed:
    return sql.SQL("; ").join(
        sql.SQL("LISTEN {}").format(sql.Identifier(channel)) for channel in channels
    )
