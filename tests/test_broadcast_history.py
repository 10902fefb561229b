"""Histories and positions, the same on memory, Redis and PostgreSQL (the real services).

Each test runs once per backend. A group matching ``HISTORY`` keeps its last
messages; ``publish()`` returns each one's position, and a subscriber that
comes back with the last position it saw receives what it missed, then the
live messages, with nothing lost and nothing twice in between. The
PostgreSQL backend keeps its histories in the tables of the app's
migrations, in the test database pytest-django creates for the ``pg`` alias.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from django_asgi_ws.broadcast import Backend, Message
from django_asgi_ws.broadcast.history import format_position, parse_position
from tests.broadcast_support import (
    BACKENDS_WITH_TABLES,
    Backends,
    receive_messages,
    unique_group,
)

HISTORY = {
    "room-*": {"SIZE": 30, "TTL": 60},
    "brief-*": {"SIZE": 5, "TTL": 0.3},
    "long-*": {"SIZE": 10_000, "TTL": 60},
}


@pytest.fixture(params=BACKENDS_WITH_TABLES)
async def backends(request: pytest.FixtureRequest) -> AsyncIterator[Backends]:
    async with Backends(request.param, HISTORY) as created:
        yield created


@pytest.fixture
def backend(backends: Backends) -> Backend:
    return backends.new()


@pytest.fixture
def room() -> str:
    return unique_group("room")


receive = receive_messages


def texts(messages: list[Message]) -> list[Any]:
    return [message.data for message in messages]


async def publish_all(backend: Backend, group: str, messages: list[Any]) -> list[str | None]:
    return [await backend.publish(group, message) for message in messages]


async def assert_not_recovered(backend: Backend, group: str, since: str | None) -> None:
    """Joining *group* since *since* recovers nothing, and delivers nothing of the history."""
    async with backend.subscribe(group, since=since) as subscription:
        assert subscription.recovered is False
        assert subscription.pending == 0


# Positions ---------------------------------------------------------------------------


async def test_publish_returns_positions_in_order_for_a_group_with_history(
    backend: Backend, room: str
) -> None:
    positions = await publish_all(backend, room, ["a", "b", "c"])
    assert all(isinstance(position, str) and position for position in positions)
    assert positions == sorted(positions)  # type: ignore[type-var]
    assert len(set(positions)) == 3


async def test_a_group_without_history_has_no_positions(backend: Backend) -> None:
    group = unique_group("plain")
    async with backend.subscribe(group) as subscription:
        assert await backend.publish(group, "x") is None
        [message] = await receive(subscription, 1)
        assert message == Message(group, "x", position=None)


async def test_received_messages_carry_the_position_publish_returned(
    backends: Backends, backend: Backend, room: str
) -> None:
    publisher = backends.other_process(backend)
    async with backend.subscribe(room) as subscription:
        positions = await publish_all(publisher, room, [{"n": 1}, b"\x00\x01"])
        messages = await receive(subscription, 2)
    assert [message.position for message in messages] == positions
    assert texts(messages) == [{"n": 1}, b"\x00\x01"]


def test_publish_sync_returns_the_position_too(backends: Backends, room: str) -> None:
    """From a thread without an event loop (a management command, a task worker)."""
    backend = backends.new()
    result: list[str | None] = []
    thread = threading.Thread(target=lambda: result.append(backend.publish_sync(room, "sync")))
    thread.start()
    thread.join()
    backend.close_sync()
    [position] = result
    assert position is not None
    parse_position(position)


# Recovery ----------------------------------------------------------------------------


async def test_a_subscriber_back_with_its_last_position_gets_what_it_missed_then_live(
    backends: Backends, backend: Backend, room: str
) -> None:
    publisher = backends.other_process(backend)
    async with backend.subscribe(room) as subscription:
        await publish_all(publisher, room, ["before"])
        [last_seen] = await receive(subscription, 1)
    missed = [{"n": n} for n in range(20)]
    await publish_all(publisher, room, missed)

    async with backend.subscribe(room, since=last_seen.position) as subscription:
        assert subscription.recovered is True
        await publisher.publish(room, "live")
        received = await receive(subscription, 21)
        assert texts(received) == [*missed, "live"]
        assert subscription.pending == 0


async def test_nothing_is_lost_or_repeated_at_the_seam_while_others_publish(
    backends: Backends, backend: Backend
) -> None:
    """History and live messages overlap while the subscription starts: each comes once."""
    room = unique_group("long")
    publisher = backends.other_process(backend)
    [start] = await publish_all(publisher, room, [0])
    stop = asyncio.Event()

    async def keep_publishing() -> int:
        sent = 1
        while not stop.is_set():
            await publisher.publish(room, sent)
            sent += 1
            await asyncio.sleep(0)
        return sent

    publishing = asyncio.ensure_future(keep_publishing())
    await asyncio.sleep(0.02)
    async with backend.subscribe(room, since=start, queue_size=100_000) as subscription:
        assert subscription.recovered is True
        await asyncio.sleep(0.05)
        stop.set()
        sent = await publishing
        received = await receive(subscription, sent - 1)
        assert texts(received) == list(range(1, sent))
        await asyncio.sleep(0.05)
        assert subscription.pending == 0


async def test_the_last_position_of_the_group_recovers_with_nothing_to_deliver(
    backend: Backend, room: str
) -> None:
    *_, last = await publish_all(backend, room, ["a", "b"])
    async with backend.subscribe(room, since=last) as subscription:
        assert subscription.recovered is True
        assert subscription.pending == 0
        await backend.publish(room, "c")
        assert texts(await receive(subscription, 1)) == ["c"]


async def test_a_position_older_than_size_is_not_recovered(backend: Backend, room: str) -> None:
    [first] = await publish_all(backend, room, ["first"])
    await publish_all(backend, room, list(range(31)))  # SIZE is 30: "0" is gone too
    async with backend.subscribe(room, since=first) as subscription:
        assert subscription.recovered is False
        assert subscription.pending == 0  # nothing from the history: the view resyncs
        await backend.publish(room, "live")
        assert texts(await receive(subscription, 1)) == ["live"]


async def test_a_position_just_within_size_is_recovered(backend: Backend, room: str) -> None:
    [first] = await publish_all(backend, room, ["first"])
    await publish_all(backend, room, list(range(30)))
    async with backend.subscribe(room, since=first) as subscription:
        assert subscription.recovered is True
        assert texts(await receive(subscription, 30)) == list(range(30))


async def test_messages_older_than_ttl_are_not_recovered(backend: Backend) -> None:
    brief = unique_group("brief")
    [first] = await publish_all(backend, brief, ["first"])
    await backend.publish(brief, "expires")
    await asyncio.sleep(0.4)  # TTL is 0.3 s
    await assert_not_recovered(backend, brief, first)


async def test_a_position_of_another_group_is_not_recovered_and_delivers_nothing(
    backend: Backend, room: str
) -> None:
    other = unique_group("room")
    [elsewhere] = await publish_all(backend, other, ["elsewhere"])
    await publish_all(backend, room, ["a", "b", "c"])
    await assert_not_recovered(backend, room, elsewhere)


async def test_a_position_of_another_incarnation_is_not_recovered(
    backend: Backend, room: str
) -> None:
    """A history lost (a broker restarted without persistence) is never taken as continuous."""
    [position] = await publish_all(backend, room, ["a"])
    incarnation, sequence = parse_position(position)
    other = format_position("0" * 12 if incarnation != "0" * 12 else "1" * 12, sequence - 1)
    await assert_not_recovered(backend, room, other)


async def test_a_position_beyond_the_last_message_is_not_recovered(
    backend: Backend, room: str
) -> None:
    [position] = await publish_all(backend, room, ["a"])
    incarnation, sequence = parse_position(position)
    await assert_not_recovered(backend, room, format_position(incarnation, sequence + 5))


async def test_a_group_without_history_does_not_recover(backend: Backend) -> None:
    """A client may come back with a position after HISTORY changed: no crash, a resync."""
    await assert_not_recovered(backend, unique_group("plain"), "0123456789ab-0000000000000001")


async def test_without_since_recovered_is_none(backend: Backend, room: str) -> None:
    async with backend.subscribe(room) as subscription:
        assert subscription.recovered is None


async def test_since_as_a_dict_recovers_each_group(backend: Backend) -> None:
    first, second, third = unique_group("room"), unique_group("room"), unique_group("room")
    [p1] = await publish_all(backend, first, ["1a"])
    [p2] = await publish_all(backend, second, ["2a"])
    await publish_all(backend, first, ["1b"])
    await publish_all(backend, second, ["2b"])
    await publish_all(backend, third, ["3a"])
    since = {first: p1, second: p2, third: None}
    async with backend.subscribe(first, second, third, since=since) as subscription:
        assert subscription.recovered is True
        assert {(m.group, m.data) for m in await receive(subscription, 2)} == {
            (first, "1b"),
            (second, "2b"),
        }
        assert subscription.pending == 0


async def test_one_group_not_recovered_makes_the_subscription_not_recovered(
    backend: Backend,
) -> None:
    kept, lost = unique_group("room"), unique_group("room")
    [p1] = await publish_all(backend, kept, ["a"])
    since = {kept: p1, lost: "0123456789ab-0000000000000001"}
    async with backend.subscribe(kept, lost, since=since) as subscription:
        assert subscription.recovered is False


async def test_join_with_since_returns_whether_it_recovered(backend: Backend, room: str) -> None:
    [first] = await publish_all(backend, room, ["a"])
    await publish_all(backend, room, ["b"])
    async with backend.subscribe() as subscription:
        assert await subscription.join(room, since=first) is True
        assert texts(await receive(subscription, 1)) == ["b"]


async def test_large_and_binary_messages_are_recovered(backend: Backend, room: str) -> None:
    """Beyond a NOTIFY's 8000 bytes on PostgreSQL: sent in chunks, stored whole."""
    [start] = await publish_all(backend, room, ["start"])
    big, binary = "é" * 20_000, bytes(range(256)) * 40
    async with backend.subscribe(room) as live:
        await publish_all(backend, room, [big, binary])
        assert texts(await receive(live, 2)) == [big, binary]
    async with backend.subscribe(room, since=start) as subscription:
        assert subscription.recovered is True
        assert texts(await receive(subscription, 2)) == [big, binary]


@pytest.mark.parametrize(
    "since",
    [
        "",
        "nonsense",
        "0123456789ab-000000000000001",  # one digit short
        "0123456789AB-0000000000000001",  # upper case
        "0123456789ab:0000000000000001",
        42,
    ],
)
def test_a_malformed_position_is_a_value_error_at_subscribe(
    backend: Backend, room: str, since: Any
) -> None:
    with pytest.raises(ValueError, match="position"):
        backend.subscribe(room, since=since)


def test_since_as_one_position_needs_exactly_one_group(backend: Backend) -> None:
    with pytest.raises(ValueError, match="dict"):
        backend.subscribe("room-a", "room-b", since="0123456789ab-0000000000000001")


def test_since_cannot_name_a_group_not_joined(backend: Backend) -> None:
    with pytest.raises(ValueError, match="room-b"):
        backend.subscribe("room-a", since={"room-b": "0123456789ab-0000000000000001"})


async def test_a_recovery_longer_than_the_queue_is_delivered_whole(
    backend: Backend, room: str
) -> None:
    """The recovered messages are queued past QUEUE_SIZE: SIZE bounds them already."""
    [start] = await publish_all(backend, room, ["start"])
    await publish_all(backend, room, list(range(25)))
    async with backend.subscribe(room, since=start, queue_size=10) as subscription:
        assert subscription.recovered is True
        assert texts(await receive(subscription, 25)) == list(range(25))
        assert subscription.dropped == 0
