"""Groups with history through broker outages, on Redis and PostgreSQL servers of the tests' own.

The listening connection of a process drops (the broker kills it, or
restarts): what was published meanwhile is recovered from the history once
it is back, in order and once, or a gap marker says, in order with the
messages, that some of it is lost. Never silently. These tests stop and
start brokers, so they run their own (e2e: they need the servers' binaries).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
import redis.asyncio

from django_asgi_ws.broadcast import Backend, BroadcastError, Message, Subscription
from django_asgi_ws.broadcast.broker import BrokerBackend
from django_asgi_ws.broadcast.history import parse_position
from tests.broadcast_support import (
    eventually,
    history_backend,
    postgres_server,
    redis_server,
    unique_group,
    unique_prefix,
)

pytestmark = pytest.mark.e2e

HISTORY = {"room-*": {"SIZE": 1000, "TTL": 60}, "small-*": {"SIZE": 5, "TTL": 60}}


class Broker:
    """A broker of the test's own: backends on it, and ways to break their connections."""

    def __init__(self, kind: str, server: Any) -> None:
        self.kind = kind
        self.server = server
        self.prefix = unique_prefix()
        self.backends: list[BrokerBackend] = []

    def backend(self) -> BrokerBackend:
        location = self.server.url if self.kind == "redis" else self.server.dsn
        backend = history_backend(
            self.kind, HISTORY, prefix=self.prefix, LOCATION=location, TIMEOUT=1.0
        )
        assert isinstance(backend, BrokerBackend)
        backend.reconnect_max_delay = 0.5
        self.backends.append(backend)
        return backend

    async def drop_connections(self) -> None:
        """Close the backends' connections from the broker's side; the broker stays up."""
        if self.kind == "redis":
            client = redis.asyncio.Redis.from_url(self.server.url)
            try:
                await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            finally:
                await client.aclose()
            return
        async with await psycopg.AsyncConnection.connect(self.server.dsn, autocommit=True) as sql:
            await sql.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'django_asgi_ws.broadcast'"
            )

    async def restart(self) -> None:
        await asyncio.to_thread(self.server.stop)
        await asyncio.to_thread(self.server.start)


@pytest.fixture(params=["redis", "postgres"])
def server(request: pytest.FixtureRequest, django_db_blocker: Any) -> Iterator[tuple[str, Any]]:
    if request.param == "redis":
        with redis_server() as own:
            yield "redis", own
        return
    with postgres_server() as own, django_db_blocker.unblock():
        own.migrate()
        yield "postgres", own


@pytest.fixture
async def broker(server: tuple[str, Any]) -> AsyncIterator[Broker]:
    broker = Broker(*server)
    yield broker
    for backend in broker.backends:
        await backend.close()


async def receive(subscription: Subscription, count: int, timeout: float = 10.0) -> list[Message]:
    return [await asyncio.wait_for(subscription.get_message(), timeout) for _ in range(count)]


async def publish_retrying(backend: Backend, group: str, message: Any) -> str:
    """Publish *message*, again while the broker refuses it; its position."""
    for _ in range(100):
        try:
            position = await backend.publish(group, message)
        except BroadcastError:
            await asyncio.sleep(0.05)
            continue
        assert position is not None
        return position
    raise AssertionError(f"the broker never took {message!r}")


async def test_what_was_published_while_the_connection_was_down_is_recovered(
    broker: Broker,
) -> None:
    subscriber, publisher = broker.backend(), broker.backend()
    subscriber.reconnect_initial_delay = 0.5  # down long enough to miss all of them
    room = unique_group("room")
    async with subscriber.subscribe(room) as subscription:
        await publisher.publish(room, "before")
        assert [m.data for m in await receive(subscription, 1)] == ["before"]

        await broker.drop_connections()
        await eventually(lambda: not subscriber.connected)
        missed = [await publish_retrying(publisher, room, n) for n in range(20)]
        assert not subscriber.connected  # all 20 went out while it was away
        await subscriber.wait_connected(timeout=10)
        await publisher.publish(room, "live")

        received = await receive(subscription, 21)
        assert [m.data for m in received] == [*range(20), "live"]
        assert [m.position for m in received[:20]] == missed
        assert {m.event for m in received} == {"message"}
        await asyncio.sleep(0.1)
        assert subscription.pending == 0
    assert subscriber.sequencer.filled == 1
    assert subscriber.sequencer.marked == 0


async def test_a_gap_the_history_cannot_fill_is_marked_in_order(broker: Broker) -> None:
    subscriber, publisher = broker.backend(), broker.backend()
    subscriber.reconnect_initial_delay = 0.5
    small = unique_group("small")  # SIZE 5
    async with subscriber.subscribe(small) as subscription:
        await publisher.publish(small, "before")
        await receive(subscription, 1)

        await broker.drop_connections()
        await eventually(lambda: not subscriber.connected)
        positions = [await publish_retrying(publisher, small, n) for n in range(10)]
        await subscriber.wait_connected(timeout=10)

        [gap] = await receive(subscription, 1)
        assert (gap.event, gap.data, gap.group) == ("gap", None, small)
        # The history's head when the gap was found: a client that resyncs now
        # has everything up to it, and delivery resumes after it.
        assert gap.position == positions[-1]
        await publisher.publish(small, "live")
        [live] = await receive(subscription, 1)
        assert (live.event, live.data) == ("message", "live")
    assert subscriber.sequencer.marked == 1


async def test_a_broker_restarted_mid_publish_loses_nothing_silently(broker: Broker) -> None:
    """Redis (no persistence) loses its histories: a gap marker says so, once, in order.
    PostgreSQL keeps them: every message published arrives, once, in order."""
    subscriber, publisher = broker.backend(), broker.backend()
    room = unique_group("room")
    published: list[int] = []
    stop = asyncio.Event()

    async def keep_publishing() -> None:
        number = 0
        while not stop.is_set():
            try:
                await publisher.publish(room, number)
            except BroadcastError:
                await asyncio.sleep(0.02)  # not taken: the next one is another number
            else:
                published.append(number)
            number += 1
            await asyncio.sleep(0.002)

    async with subscriber.subscribe(room, queue_size=100_000) as subscription:
        publishing = asyncio.ensure_future(keep_publishing())
        await eventually(lambda: len(published) >= 20)
        await broker.restart()
        await subscriber.wait_connected(timeout=15)
        count = len(published)
        await eventually(lambda: len(published) >= count + 20, timeout=15)
        stop.set()
        await publishing

        received: list[Message] = []
        while not received or received[-1].data != published[-1]:
            received += await receive(subscription, 1)
        await asyncio.sleep(0.1)
        assert subscription.pending == 0

    numbers = [m.data for m in received if m.event == "message"]
    assert numbers == sorted(set(numbers))  # in order, none twice
    gaps = [index for index, m in enumerate(received) if m.event == "gap"]
    if broker.kind == "postgres":
        assert gaps == []
        # A publish that failed as the server went down may still have committed.
        assert set(published) <= set(numbers) <= set(range(published[-1] + 1))
        return
    # Redis: one marker, where the messages published around the restart are missing.
    assert len(gaps) == 1
    before = {m.data for m in received[: gaps[0]]}
    after = {m.data for m in received[gaps[0] + 1 :]}
    missing = [n for n in published if n not in before | after]
    assert all(max(before) < n < min(after) for n in missing)
    incarnations = {parse_position(m.position).incarnation for m in received if m.position}
    assert len(incarnations) == 2  # the history Redis lost, and the new one
