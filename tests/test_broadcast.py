"""What every broadcast backend does, on memory, Redis and PostgreSQL (the real services).

Each test runs once per backend. "Another process" is a second backend
instance on the same broker and prefix, which shares nothing with the first
but the broker; the memory backend has no other process, so it plays both.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import logging
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from django_asgi_ws.broadcast import Backend, Message, SubscriberTooSlow, Subscription
from django_asgi_ws.broadcast.options import OverflowPolicy
from tests.broadcast_support import (
    BACKENDS,
    Backends,
    eventually,
    unique_group,
    unique_prefix,
)


@pytest.fixture(params=BACKENDS)
async def backends(request: pytest.FixtureRequest) -> AsyncIterator[Backends]:
    created = Backends(request.param)
    yield created
    for backend in created.created:
        await backend.close()


@pytest.fixture
def backend(backends: Backends) -> Backend:
    return backends.new()


@pytest.fixture
def group() -> str:
    return unique_group()


async def receive(subscription: Subscription, timeout: float = 5.0) -> Any:
    return await asyncio.wait_for(subscription.get(), timeout)


async def receive_message(subscription: Subscription, timeout: float = 5.0) -> Message:
    return await asyncio.wait_for(subscription.get_message(), timeout)


# Publish and subscribe ---------------------------------------------------------------


async def test_a_subscriber_receives_what_is_published_to_its_group(
    backend: Backend, group: str
) -> None:
    async with backend.subscribe(group) as subscription:
        await backend.publish(group, {"text": "hello"})
        assert await receive(subscription) == {"text": "hello"}


async def test_subscriptions_in_one_process_share_one_decoded_message(
    backend: Backend, group: str
) -> None:
    """Decoded once per process, not once per subscriber: treat it as read-only."""
    async with backend.subscribe(group) as first, backend.subscribe(group) as second:
        await backend.publish(group, {"items": [1, 2]})
        mine, theirs = await receive(first), await receive(second)
        assert mine == {"items": [1, 2]}
        assert theirs is mine


async def test_the_publisher_may_change_its_message_once_published(
    backend: Backend, group: str
) -> None:
    async with backend.subscribe(group) as subscription:
        message = {"items": [1, 2]}
        await backend.publish(group, message)
        message["items"].append(3)
        assert await receive(subscription) == {"items": [1, 2]}


async def test_backends_with_different_prefixes_do_not_hear_each_other(
    backends: Backends, group: str
) -> None:
    ours, theirs = backends.new(prefix=unique_prefix()), backends.new(prefix=unique_prefix())
    async with ours.subscribe(group) as for_us, theirs.subscribe(group) as for_them:
        await theirs.publish(group, "for the neighbour")
        await ours.publish(group, "for us")
        assert await receive(for_us) == "for us"
        assert await receive(for_them) == "for the neighbour"
        assert for_us.pending == for_them.pending == 0


async def test_a_subscriber_in_another_process_receives_it_too(
    backends: Backends, backend: Backend, group: str
) -> None:
    publisher = backends.other_process(backend)
    async with backend.subscribe(group) as subscription:
        await publisher.publish(group, ["from", "elsewhere"])
        assert await receive(subscription) == ["from", "elsewhere"]


async def test_the_subscribers_of_the_publishing_process_get_a_message_once_and_at_once(
    backend: Backend, group: str
) -> None:
    """With a broker, a group without history is delivered in this process first, and
    the broker's copy of the message, back from it, is dropped."""
    async with backend.subscribe(group) as subscription:
        for number in range(5):
            await backend.publish(group, number)
            # Already there when publish returns: no wait for the broker's round trip.
            message = subscription.get_message_nowait()
            assert message is not None and message.data == number
        await asyncio.sleep(0.3)  # time for the broker's copies to come back
        assert subscription.pending == 0


async def test_a_subscription_receives_only_the_groups_it_joined(
    backend: Backend, group: str
) -> None:
    async with backend.subscribe(group) as subscription:
        await backend.publish(unique_group("elsewhere"), "not for us")
        await backend.publish(group, "for us")
        assert await receive(subscription) == "for us"
        assert subscription.pending == 0


async def test_one_subscription_receives_several_groups_and_tells_them_apart(
    backend: Backend,
) -> None:
    news, sport = unique_group("news"), unique_group("sport")
    async with backend.subscribe(news, sport) as subscription:
        assert subscription.groups == {news, sport}
        await backend.publish(news, "election")
        await backend.publish(sport, "match")
        assert await receive_message(subscription) == Message(news, "election")
        assert await receive_message(subscription) == Message(sport, "match")


async def test_a_group_joined_later_is_received_from_then_on(backend: Backend) -> None:
    first, later = unique_group("first"), unique_group("later")
    async with backend.subscribe(first) as subscription:
        await backend.publish(later, "before the join")
        await subscription.join(later)
        await backend.publish(later, "after the join")
        assert await receive_message(subscription) == Message(later, "after the join")


async def test_joining_a_group_twice_delivers_its_messages_once(
    backend: Backend, group: str
) -> None:
    async with backend.subscribe(group) as subscription:
        await subscription.join(group)
        await backend.publish(group, 1)
        await backend.publish(group, 2)
        assert [await receive(subscription), await receive(subscription)] == [1, 2]


async def test_after_leave_nothing_more_arrives_from_that_group(backend: Backend) -> None:
    left, kept = unique_group("left"), unique_group("kept")
    async with backend.subscribe(left, kept) as subscription:
        await backend.publish(left, "queued before the leave")
        await eventually(lambda: subscription.pending == 1)
        await subscription.leave(left)
        await backend.publish(left, "published after the leave")
        await backend.publish(kept, "still received")
        # Queued or not, nothing of the group left comes out any more.
        assert await receive_message(subscription) == Message(kept, "still received")
        assert subscription.groups == {kept}
        assert backend.local_groups == {kept}


async def test_leaving_the_async_with_unsubscribes(backend: Backend, group: str) -> None:
    async with backend.subscribe(group) as subscription:
        assert backend.local_groups == {group}
    assert subscription.closed
    assert backend.local_groups == set()
    await backend.publish(group, "nobody listens")
    with pytest.raises(RuntimeError, match="The subscription is closed"):
        await subscription.get()


async def test_iterating_ends_when_the_subscription_is_closed(backend: Backend, group: str) -> None:
    received: list[Any] = []

    async with backend.subscribe(group) as subscription:

        async def consume() -> None:
            async for data in subscription:
                received.append(data)

        consumer = asyncio.ensure_future(consume())
        await backend.publish(group, "one")
        await eventually(lambda: received == ["one"])
        await subscription.close()
        await asyncio.wait_for(consumer, 5)


async def test_closing_the_backend_ends_the_open_subscriptions(
    backend: Backend, group: str
) -> None:
    async with backend.subscribe(group) as subscription:
        await backend.close()
        assert [data async for data in subscription] == []
        assert backend.local_groups == set()


async def test_a_running_broker_answers_a_ping(backend: Backend) -> None:
    await backend.ping()


async def test_publishing_to_a_group_nobody_joined_is_not_an_error(backend: Backend) -> None:
    await backend.publish(unique_group(), {"into": "the void"})


# Ordering ---------------------------------------------------------------------------


async def test_messages_arrive_in_the_order_they_were_published(
    backend: Backend, group: str
) -> None:
    async with backend.subscribe(group, queue_size=500) as subscription:
        for number in range(300):
            await backend.publish(group, number)
        assert [await receive(subscription) for _ in range(300)] == list(range(300))


async def test_every_subscriber_receives_every_message(backend: Backend, group: str) -> None:
    subscriptions = [backend.subscribe(group) for _ in range(50)]
    for subscription in subscriptions:
        await subscription.__aenter__()
    try:
        for number in range(20):
            await backend.publish(group, number)
        for subscription in subscriptions:
            assert [await receive(subscription) for _ in range(20)] == list(range(20))
    finally:
        for subscription in subscriptions:
            await subscription.close()


# Payloads ---------------------------------------------------------------------------


async def test_json_values_arrive_as_djangos_json_encoder_writes_them(
    backend: Backend, group: str
) -> None:
    when = datetime.datetime(2024, 5, 17, 12, 30, tzinfo=datetime.timezone.utc)
    identifier = uuid.UUID("12345678-1234-5678-1234-567812345678")
    async with backend.subscribe(group) as subscription:
        await backend.publish(
            group,
            {"when": when, "day": when.date(), "price": decimal.Decimal("9.90"), "id": identifier},
        )
        assert await receive(subscription) == {
            "when": "2024-05-17T12:30:00Z",
            "day": "2024-05-17",
            "price": "9.90",
            "id": "12345678-1234-5678-1234-567812345678",
        }


async def test_text_beyond_ascii_arrives_intact(backend: Backend, group: str) -> None:
    text = "héllo wörld, 你好, emoji 🎉, lone surrogate \ud800"
    async with backend.subscribe(group) as subscription:
        await backend.publish(group, {"text": text})
        assert await receive(subscription) == {"text": text}


async def test_bytes_arrive_as_bytes(backend: Backend, group: str) -> None:
    async with backend.subscribe(group) as subscription:
        await backend.publish(group, b"\x00\xffraw")
        await backend.publish(group, bytearray(b"array"))
        assert await receive(subscription) == b"\x00\xffraw"
        assert await receive(subscription) == b"array"


@pytest.mark.parametrize(
    ("message", "error", "text"),
    [
        ({"a set": {1, 2}}, TypeError, "must be bytes or JSON-serialisable"),
        (float("nan"), ValueError, "Out of range float values"),
    ],
)
async def test_what_json_cannot_carry_is_refused_when_published(
    backend: Backend, group: str, message: Any, error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        await backend.publish(group, message)


async def test_a_message_of_one_mebibyte_arrives_whole(backend: Backend, group: str) -> None:
    text = "".join(chr(ord("a") + n % 26) for n in range(1024 * 1024))
    data = bytes(range(256)) * 4096
    async with backend.subscribe(group) as subscription:
        await backend.publish(group, text)
        await backend.publish(group, data)
        await backend.publish(group, "and then a small one")
        assert await receive(subscription) == text
        assert await receive(subscription) == data
        assert await receive(subscription) == "and then a small one"


# Slow subscribers -------------------------------------------------------------------


async def test_a_slow_subscriber_loses_the_oldest_messages_and_counts_them(
    backend: Backend, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "django_asgi_ws.broadcast")
    async with backend.subscribe(group, queue_size=5, overflow="drop_oldest") as subscription:
        for number in range(20):
            await backend.publish(group, number)
        await eventually(lambda: subscription.dropped == 15)
        assert subscription.pending == 5
        assert [await receive(subscription) for _ in range(5)] == [15, 16, 17, 18, 19]
    # One warning, not one per message: the log is rate-limited.
    warnings = [r for r in caplog.records if "too slow" in r.getMessage()]
    assert len(warnings) == 1
    assert "queue full at 5 messages" in warnings[0].getMessage()


async def test_a_slow_subscriber_under_close_is_told_to_try_again_later(
    backend: Backend, group: str
) -> None:
    async with backend.subscribe(group, queue_size=5, overflow="close") as subscription:
        for number in range(6):
            await backend.publish(group, number)
        await eventually(lambda: subscription.overflowed)
        with pytest.raises(SubscriberTooSlow) as raised:
            await receive(subscription)
        # What a websocket view letting it through closes its connection with.
        assert raised.value.code == 1013
        assert raised.value.reason == "Too slow to receive broadcast messages."
        assert raised.value.queue_size == 5
        assert (subscription.pending, subscription.dropped) == (0, 6)
        with pytest.raises(SubscriberTooSlow):
            async for _ in subscription:
                pass


@pytest.mark.parametrize("overflow", ["close", "drop_oldest"])
async def test_the_overflow_handler_is_called_once_when_the_queue_overflows_under_close(
    backend: Backend, group: str, overflow: OverflowPolicy
) -> None:
    calls: list[bool] = []
    async with backend.subscribe(group, queue_size=5, overflow=overflow) as subscription:
        subscription.set_overflow_handler(lambda: calls.append(subscription.overflowed))
        for number in range(8):
            await backend.publish(group, number)
        await eventually(lambda: subscription.dropped == 3 or subscription.overflowed)
        await asyncio.sleep(0.05)  # anything after the overflow arrives too
        # In the publisher's turn, once reads raise; never under drop_oldest.
        assert calls == ([True] if overflow == "close" else [])
        subscription.set_overflow_handler(None)


async def test_a_cancelled_get_loses_no_message(backend: Backend, group: str) -> None:
    async with backend.subscribe(group) as subscription:
        waiting = asyncio.ensure_future(subscription.get())
        await asyncio.sleep(0.01)
        waiting.cancel()
        await backend.publish(group, "kept")
        assert await receive(subscription) == "kept"


# Publishing from sync code ----------------------------------------------------------


async def test_publish_sync_from_a_thread_goes_through_the_backends_loop(
    backend: Backend, group: str
) -> None:
    async with backend.subscribe(group) as subscription:
        # As a sync view does under ASGI: a worker thread, the server's loop running.
        await asyncio.to_thread(backend.publish_sync, group, {"from": "a thread"})
        assert await receive(subscription) == {"from": "a thread"}


async def test_publish_sync_works_where_no_event_loop_runs(
    backends: Backends, backend: Backend, group: str
) -> None:
    # As a management command or a task worker does: a process without a loop.
    publisher = backends.other_process(backend)
    errors: list[BaseException] = []

    def publish() -> None:
        try:
            for number in range(3):
                publisher.publish_sync(group, number)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    async with backend.subscribe(group) as subscription:
        thread = threading.Thread(target=publish)
        thread.start()
        await asyncio.to_thread(thread.join)
        assert errors == []
        assert [await receive(subscription) for _ in range(3)] == [0, 1, 2]


async def test_publish_sync_refuses_to_block_an_event_loop(backend: Backend, group: str) -> None:
    with pytest.raises(RuntimeError, match=r"use 'await publish\(...\)' instead"):
        backend.publish_sync(group, "would block the loop")


# Group names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "cannot be empty"),
        ("x" * 101, "the limit is 100"),
        ("with space", "use only ASCII letters, digits"),
        ("é", "use only ASCII letters, digits"),
        ("a|b", "use only ASCII letters, digits"),
        (42, "must be a str, not int"),
    ],
)
async def test_invalid_group_names_are_refused(backend: Backend, name: Any, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        await backend.publish(name, "x")
    with pytest.raises(ValueError, match=error):
        backend.subscribe(name)
    async with backend.subscribe() as subscription:
        with pytest.raises(ValueError, match=error):
            await subscription.join(name)


# Waiting on a subscription and something else at once --------------------------------


async def test_ready_is_done_once_a_message_waits_and_the_message_is_then_read_without_waiting(
    backend: Backend, group: str
) -> None:
    async with backend.subscribe(group) as subscription:
        assert subscription.get_message_nowait() is None
        ready = subscription.ready()
        assert not ready.done()
        await backend.publish(group, "first")
        await asyncio.wait_for(ready, 5)
        assert subscription.get_message_nowait() == Message(group, "first")
        assert subscription.get_message_nowait() is None


async def test_an_abandoned_wait_on_ready_loses_nothing(backend: Backend, group: str) -> None:
    async with backend.subscribe(group) as subscription:
        other = asyncio.get_running_loop().create_future()
        other.set_result(None)  # the other side wins
        await asyncio.wait((subscription.ready(), other), return_when=asyncio.FIRST_COMPLETED)
        await backend.publish(group, "kept")
        assert await receive(subscription) == "kept"


async def test_ready_is_done_at_once_when_a_message_already_waits(
    backend: Backend, group: str
) -> None:
    async with backend.subscribe(group) as subscription:
        await backend.publish(group, "waiting")
        await asyncio.wait_for(subscription.ready(), 5)
        assert subscription.ready().done()
        assert subscription.get_message_nowait() == Message(group, "waiting")


async def test_ready_ends_with_the_subscription_and_reading_then_raises(
    backend: Backend, group: str
) -> None:
    subscription = backend.subscribe(group)
    async with subscription:
        ready = subscription.ready()
    assert ready.done()
    with pytest.raises(RuntimeError, match="closed"):
        subscription.get_message_nowait()


async def test_reading_without_waiting_raises_once_the_queue_overflowed_under_close(
    backend: Backend, group: str
) -> None:
    async with backend.subscribe(group, queue_size=1, overflow="close") as subscription:
        for text in ("one", "two"):
            await backend.publish(group, text)
        await asyncio.wait_for(subscription.ready(), 5)
        deadline = asyncio.get_running_loop().time() + 5
        # The broker backends deliver from their reader task: poll for the overflow.
        while not subscription.overflowed and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        with pytest.raises(SubscriberTooSlow):
            subscription.get_message_nowait()
