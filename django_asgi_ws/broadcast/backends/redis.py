"""Redis pub/sub: one PUBLISH per message, one SUBSCRIBE per group and process.

Channels are ``PREFIX + group``. Besides its groups, the listening connection
stays subscribed to ``PREFIX + "|control"`` (no group can have that name) so
that it is always in subscribed mode, where a PING gets a pub/sub answer: the
health check of a connection idle for ``health_check_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis
import redis.asyncio
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript, Script
from redis.retry import Retry

from django_asgi_ws.broadcast.backends import redis_history
from django_asgi_ws.broadcast.backends.redis_presence import RedisPresence
from django_asgi_ws.broadcast.broker import BrokerBackend, resolve
from django_asgi_ws.broadcast.cancellation import cancel_and_wait
from django_asgi_ws.broadcast.history import HistoryPolicy, HistoryRead, Position

DEFAULT_LOCATION = "redis://127.0.0.1:6379/0"
T = TypeVar("T")

Waiters = defaultdict[str, deque["asyncio.Future[None] | None"]]


def redact(url: str) -> str:
    """*url* without its user and password."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


class RedisBackend(BrokerBackend):
    """Messages through a Redis server (``LOCATION``, default ``redis://127.0.0.1:6379/0``).

    ``OPTIONS`` are keyword arguments of ``redis.Redis``, such as
    ``{"password": ...}`` or ``{"ssl_cert_reqs": "none"}``. Histories are kept
    as ``redis_history`` describes.
    """

    location_schemes = ("redis", "rediss", "unix")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url: str = self.location or DEFAULT_LOCATION
        self._control = self.prefix + "|control"
        self._client: redis.asyncio.Redis | None = None
        self._script: AsyncScript | None = None  # publishes to a group with history
        self._presence: RedisPresence | None = None
        self._sync_client: redis.Redis | None = None
        self._sync_script: Script | None = None
        self._sync_lock = threading.Lock()

    @property
    def broker(self) -> str:
        return f"Redis at {redact(self.url)}"

    def channel_name(self, group: str) -> str:
        return self.prefix + group

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "socket_connect_timeout": self.timeout,
            "socket_timeout": self.timeout,
            # RESP2: with RESP3, redis-py 8 stops checking that a pooled connection
            # is still alive before reusing it, so the first PUBLISH after a
            # Redis restart would fail.
            "protocol": 2,
        }
        kwargs.update(self.options)
        kwargs["decode_responses"] = False  # frames are bytes
        return kwargs

    # Lifecycle ----------------------------------------------------------------

    async def _open(self) -> None:
        # No retries: a failed PUBLISH must fail at once (and is never sent twice);
        # the listening connection has its own reconnection loop.
        self._client = redis.asyncio.Redis.from_url(
            self.url, **{"retry": AsyncRetry(NoBackoff(), 0), **self._client_kwargs()}
        )
        self._script = self._client.register_script(redis_history.PUBLISH_SCRIPT)
        self._presence = RedisPresence(self._client, self.prefix, self.presence_timeout)

    async def ping(self) -> None:
        await self.open()
        assert self._client is not None
        try:
            await self._client.ping()
        except (redis.RedisError, OSError) as exc:
            raise self.unreachable(exc) from exc

    async def _session_lost(self) -> None:
        # A pooled connection that Redis closed is not always noticed before it
        # is used again (redis-py 5.0 does not check): the first PUBLISH after a restart
        # would fail on it. Drop them; the next PUBLISH connects afresh.
        if self._client is not None:
            await self._client.connection_pool.disconnect(inuse_connections=False)

    async def _close(self) -> None:
        await super()._close()
        client, self._client = self._client, None
        self._script = self._presence = None
        if client is not None:
            await client.aclose()

    def close_sync(self) -> None:
        with self._sync_lock:
            client, self._sync_client = self._sync_client, None
            self._sync_script = None
        if client is not None:
            atexit.unregister(self.close_sync)
            client.close()

    # Publishing ---------------------------------------------------------------

    async def _publish(self, group: str, frame: bytes) -> None:
        assert self._client is not None
        try:
            await self._client.publish(self.channel_name(group), frame)
        except (redis.RedisError, OSError) as exc:
            raise self.publish_error(group, exc) from exc

    def _publish_without_loop(self, group: str, frame: bytes) -> None:
        try:
            self._sync()[0].publish(self.channel_name(group), frame)
        except (redis.RedisError, OSError) as exc:
            raise self.publish_error(group, exc) from exc

    def _sync(self) -> tuple[redis.Redis, Script]:
        """The client of threads without an event loop and its script, created at first use."""
        with self._sync_lock:
            if self._sync_client is None or self._sync_script is None:
                self._sync_client = redis.Redis.from_url(
                    self.url, **{"retry": Retry(NoBackoff(), 0), **self._client_kwargs()}
                )
                self._sync_script = self._sync_client.register_script(redis_history.PUBLISH_SCRIPT)
                atexit.register(self.close_sync)
            return self._sync_client, self._sync_script

    async def _publish_history(self, group: str, frame: bytes, policy: HistoryPolicy) -> str:
        assert self._script is not None
        args = redis_history.publish_args(self.channel_name(group), frame, policy)
        try:
            # EVALSHA, with a SCRIPT LOAD first only when Redis does not know the script.
            position = await self._script(redis_history.keys(self.prefix, group), args)
        except (redis.RedisError, OSError) as exc:
            raise self.publish_error(group, exc) from exc
        return bytes(position).decode("ascii")

    def _publish_history_without_loop(self, group: str, frame: bytes, policy: HistoryPolicy) -> str:
        args = redis_history.publish_args(self.channel_name(group), frame, policy)
        _, script = self._sync()
        try:
            position = script(redis_history.keys(self.prefix, group), args)
        except (redis.RedisError, OSError) as exc:
            raise self.publish_error(group, exc) from exc
        return bytes(position).decode("ascii")

    async def _read_history(
        self, group: str, policy: HistoryPolicy, after: Position | None
    ) -> HistoryRead:
        assert self._client is not None
        try:
            async with self._client.pipeline(transaction=True) as pipeline:
                redis_history.read_commands(pipeline, self.prefix, group, after)
                results = await pipeline.execute()
        except (redis.RedisError, OSError) as exc:
            raise self.unreachable(exc) from exc
        return redis_history.parse_read(results, policy)

    # Presence -----------------------------------------------------------------

    async def _presence_add(self, group: str, entry: str, member: str) -> None:
        await self._add_members(group, {entry: member})

    async def _presence_remove(self, group: str, entry: str) -> None:
        channel = self.channel_name(group)
        await self._on_presence(lambda presence: presence.remove(group, channel, entry))

    async def _presence_renew(self, members: dict[str, dict[str, str]]) -> None:
        for group, group_members in members.items():
            await self._add_members(group, group_members)

    async def _add_members(self, group: str, members: dict[str, str]) -> None:
        channel = self.channel_name(group)
        await self._on_presence(lambda presence: presence.add(group, channel, members))

    async def _presence_read(self, group: str) -> list[str]:
        channel = self.channel_name(group)
        return await self._on_presence(lambda presence: presence.read(group, channel))

    async def _on_presence(self, work: Callable[[RedisPresence], Awaitable[T]]) -> T:
        assert self._presence is not None
        try:
            return await work(self._presence)
        except (redis.RedisError, OSError) as exc:
            raise self.unreachable(exc) from exc

    # Listening ----------------------------------------------------------------

    async def _session(self) -> None:
        assert self._client is not None
        pubsub = self._client.pubsub()
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]
            snapshot = self._session_started()
            loop = asyncio.get_running_loop()
            waiters: Waiters = defaultdict(deque)
            last: asyncio.Future[None] = loop.create_future()
            waiters[self._control].append(last)
            for channel, ready in snapshot:
                waiters[channel].append(ready)
                last = ready
            # Confirmations come in order: the last one means all are subscribed.
            await pubsub.subscribe(self._control, *(channel for channel, _ in snapshot))
            reader = asyncio.ensure_future(self._read(pubsub, waiters, last))
            runner = asyncio.ensure_future(self._run_commands(pubsub, waiters))
            try:
                done, _ = await asyncio.wait({reader, runner}, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
                raise ConnectionError("the pub/sub connection stopped")
            finally:
                await cancel_and_wait(reader, runner)
        finally:
            with suppress(Exception):
                await pubsub.aclose()

    async def _read(self, pubsub: PubSub, waiters: Waiters, last: asyncio.Future[None]) -> None:
        ping_sent = False
        while True:
            message: dict[str, Any] | None = await pubsub.get_message(
                timeout=self.health_check_interval
            )
            if message is None:
                if ping_sent:
                    raise ConnectionError(
                        f"no answer to PING within {self.health_check_interval:g} s"
                    )
                await pubsub.ping()
                ping_sent = True
                continue
            ping_sent = False
            kind = message["type"]
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode("utf-8", "replace")
            if kind == "message":
                self._frame_received(channel, bytes(message["data"]))
            elif kind == "subscribe":
                queue = waiters.get(channel)
                if queue:
                    resolve(queue.popleft())
                if not self.connected and last.done():
                    self._session_subscribed()

    async def _run_commands(self, pubsub: PubSub, waiters: Waiters) -> None:
        while True:
            await self._wait_for_command()
            while (command := self._next_command()) is not None:
                if command.subscribe:
                    waiters[command.channel].append(command.done)
                    await pubsub.subscribe(command.channel)
                else:
                    await pubsub.unsubscribe(command.channel)
