"""publish_on_commit(): a message goes out once the transaction commits, never if it rolls back.

The sync code runs as a sync view's would, in a thread of its own while the
event loop serves the subscriber; the transactions are real ones on the test
database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections, transaction

from django_asgi_ws import broadcast
from tests.broadcast_support import free_port, unique_group
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def subscription(settings: Any) -> AsyncIterator[broadcast.Subscription]:
    settings.WEBSOCKET_BROADCAST = {}  # a memory backend of the test's own
    async with broadcast.subscribe(unique_group()) as subscription:
        yield subscription
    await broadcast.aclose()


def group_of(subscription: broadcast.Subscription) -> str:
    [group] = subscription.groups
    return group


async def receive(subscription: broadcast.Subscription) -> Any:
    return await asyncio.wait_for(subscription.get(), 5)


def in_a_thread(function: Callable[[], None]) -> Callable[[], Any]:
    """*function* run as sync code is: in a thread, while the event loop goes on.

    The thread's database connections are closed after it, as a request's are.
    """

    def run_and_close() -> None:
        try:
            function()
        finally:
            connections.close_all()

    return sync_to_async(run_and_close, thread_sensitive=False)


async def test_the_message_goes_out_once_the_transaction_commits(
    subscription: broadcast.Subscription,
) -> None:
    group = group_of(subscription)
    pending_before_commit: list[int] = []

    def save() -> None:
        with transaction.atomic():
            Note.objects.create(text="hello")
            broadcast.publish_on_commit(group, {"note": "hello"})
            time.sleep(0.1)  # long enough for a message published now to arrive
            pending_before_commit.append(subscription.pending)

    await in_a_thread(save)()
    assert pending_before_commit == [0]
    assert await receive(subscription) == {"note": "hello"}


async def test_nothing_goes_out_if_the_transaction_rolls_back(
    subscription: broadcast.Subscription,
) -> None:
    group = group_of(subscription)

    def fail() -> None:
        with transaction.atomic():
            Note.objects.create(text="never")
            broadcast.publish_on_commit(group, "never")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        await in_a_thread(fail)()
    await broadcast.publish(group, "after")
    assert await receive(subscription) == "after"


async def test_a_savepoint_rolled_back_drops_what_was_registered_in_it(
    subscription: broadcast.Subscription,
) -> None:
    group = group_of(subscription)

    def save() -> None:
        with transaction.atomic():
            broadcast.publish_on_commit(group, "kept")
            try:
                with transaction.atomic():
                    broadcast.publish_on_commit(group, "dropped")
                    raise RuntimeError
            except RuntimeError:
                pass
            broadcast.publish_on_commit(group, "also kept")

    await in_a_thread(save)()
    assert [await receive(subscription), await receive(subscription)] == ["kept", "also kept"]
    await broadcast.publish(group, "end")
    assert await receive(subscription) == "end"


async def test_outside_a_transaction_it_goes_out_at_once(
    subscription: broadcast.Subscription,
) -> None:
    group = group_of(subscription)
    await in_a_thread(lambda: broadcast.publish_on_commit(group, "now"))()
    assert await receive(subscription) == "now"


async def test_from_async_code_it_goes_out_at_once(subscription: broadcast.Subscription) -> None:
    """Django runs no transaction in async code: there is nothing to wait for."""
    broadcast.publish_on_commit(group_of(subscription), "from async code")
    assert await receive(subscription) == "from async code"


async def test_a_message_that_cannot_be_sent_is_refused_at_the_call(
    subscription: broadcast.Subscription,
) -> None:
    def save() -> None:
        with transaction.atomic():
            broadcast.publish_on_commit(group_of(subscription), {"set": {1}})

    with pytest.raises(TypeError, match="JSON"):
        await in_a_thread(save)()


async def test_the_message_is_encoded_at_the_call(subscription: broadcast.Subscription) -> None:
    group = group_of(subscription)

    def save() -> None:
        with transaction.atomic():
            message = {"items": [1]}
            broadcast.publish_on_commit(group, message)
            message["items"].append(2)

    await in_a_thread(save)()
    assert await receive(subscription) == {"items": [1]}


async def test_a_publish_failing_after_the_commit_is_logged_not_raised(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The write happened: the code that committed it must not see an error."""
    settings.WEBSOCKET_BROADCAST = {
        "BACKEND": "django_asgi_ws.broadcast.backends.redis.RedisBackend",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nobody listens there
        "TIMEOUT": 0.5,
    }

    def save() -> None:
        with transaction.atomic():
            Note.objects.create(text="saved")
            broadcast.publish_on_commit("notes", {"saved": True})

    try:
        with caplog.at_level(logging.ERROR):
            await in_a_thread(save)()
    finally:
        await broadcast.aclose()
    assert await sync_to_async(Note.objects.filter(text="saved").exists)()
    assert any(
        record.exc_info and isinstance(record.exc_info[1], broadcast.BroadcastError)
        for record in caplog.records
    )
