"""The Redis backend: channel names, other publishers, and surviving a Redis restart."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio

from django_asgi_ws.broadcast import BroadcastError
from django_asgi_ws.broadcast.backends.redis import RedisBackend, redact
from tests.broadcast_support import (
    RedisServer,
    eventually,
    redis_server,
    redis_url,
    unique_group,
    unique_prefix,
)


@pytest.fixture
async def raw_redis() -> AsyncIterator[redis.asyncio.Redis]:
    """A plain client, as another program publishing to the same Redis."""
    client = redis.asyncio.Redis.from_url(redis_url())
    yield client
    await client.aclose()


@pytest.fixture
async def backend() -> AsyncIterator[RedisBackend]:
    backend = RedisBackend(location=redis_url(), prefix=unique_prefix())
    yield backend
    await backend.close()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of this test's own, to stop and start again."""
    with redis_server() as server:
        yield server


async def receive(subscription: Any, timeout: float = 5.0) -> Any:
    return await asyncio.wait_for(subscription.get(), timeout)


async def test_a_group_is_the_channel_prefix_plus_its_name(
    backend: RedisBackend, raw_redis: redis.asyncio.Redis
) -> None:
    group = unique_group()
    async with backend.subscribe(group):
        counts = await raw_redis.pubsub_numsub(backend.prefix + group)
        assert counts == [((backend.prefix + group).encode(), 1)]


async def test_one_connection_per_process_subscribes_however_many_subscribers(
    backend: RedisBackend, raw_redis: redis.asyncio.Redis
) -> None:
    group = unique_group()
    channel = backend.prefix + group
    async with backend.subscribe(group), backend.subscribe(group):
        assert await raw_redis.pubsub_numsub(channel) == [(channel.encode(), 1)]

    async def unsubscribed() -> bool:
        return await raw_redis.pubsub_numsub(channel) == [(channel.encode(), 0)]

    for _ in range(100):  # the UNSUBSCRIBE goes out after the leave
        if await unsubscribed():
            break
        await asyncio.sleep(0.01)
    assert await unsubscribed()


async def test_another_program_can_publish_frames(
    backend: RedisBackend, raw_redis: redis.asyncio.Redis
) -> None:
    group = unique_group()
    async with backend.subscribe(group) as subscription:
        await raw_redis.publish(backend.prefix + group, b'J{"from":"a script"}')
        await raw_redis.publish(backend.prefix + group, b"Braw bytes")
        assert await receive(subscription) == {"from": "a script"}
        assert await receive(subscription) == b"raw bytes"


async def test_a_malformed_message_is_skipped_with_a_warning(
    backend: RedisBackend, raw_redis: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    group = unique_group()
    async with backend.subscribe(group) as subscription:
        await raw_redis.publish(backend.prefix + group, b"not a frame")
        await raw_redis.publish(backend.prefix + group, b"J{broken json")
        await backend.publish(group, "fine")
        assert await receive(subscription) == "fine"
    skipped = [r.getMessage() for r in caplog.records if "Skipped a malformed" in r.getMessage()]
    assert len(skipped) == 2


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@cache.internal:6380/2", "redis://***@cache.internal:6380/2"),
        ("rediss://user:s3cret@cache.internal/0", "rediss://***@cache.internal/0"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_a_url_is_shown_without_its_credentials(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_the_broker_is_named_without_its_password() -> None:
    backend = RedisBackend(location="rediss://user:s3cret@cache.internal/0")
    assert backend.broker == "Redis at rediss://***@cache.internal/0"


def test_without_location_the_local_redis_is_used() -> None:
    assert RedisBackend().url == "redis://127.0.0.1:6379/0"


# Outages (a Redis server of the test's own; e2e, as they need redis-server) ----------


def fast_reconnecting(url: str, **kwargs: Any) -> RedisBackend:
    backend = RedisBackend(location=url, prefix=unique_prefix(), **kwargs)
    backend.reconnect_initial_delay = 0.05
    backend.reconnect_max_delay = 0.2
    return backend


@pytest.mark.e2e
async def test_subscriptions_resume_after_redis_restarts(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    backend = fast_reconnecting(own_redis.url, timeout=1.0)
    before, during = unique_group("before"), unique_group("during")
    try:
        async with backend.subscribe(before) as subscription:
            await backend.publish(before, "before the outage")
            assert await receive(subscription) == "before the outage"

            own_redis.stop()
            await eventually(lambda: not backend.connected)
            with pytest.raises(BroadcastError) as raised:
                await backend.publish(before, "lost")
            message = str(raised.value)
            assert f"Redis at {own_redis.url} failed" in message
            assert "The message was not sent" in message
            assert "reconnect by themselves" in message
            # Joining during the outage neither fails nor waits.
            await asyncio.wait_for(subscription.join(during), 0.5)

            own_redis.start()
            await backend.wait_connected(timeout=5)
            await backend.publish(before, "after the outage")
            await backend.publish(during, "joined during the outage")
            assert await receive(subscription) == "after the outage"
            assert await receive(subscription) == "joined during the outage"
            assert backend.reconnections == 1
    finally:
        await backend.close()
    assert any("reconnecting in" in r.getMessage() for r in caplog.records)
    assert any(r.getMessage().startswith("Reconnected to Redis") for r in caplog.records)


@pytest.mark.e2e
async def test_publish_sync_fails_clearly_while_redis_is_down(own_redis: RedisServer) -> None:
    backend = fast_reconnecting(own_redis.url, timeout=1.0)
    group = unique_group()
    try:
        await asyncio.to_thread(backend.publish_sync, group, "works")
        own_redis.stop()
        with pytest.raises(BroadcastError, match="failed"):
            await asyncio.to_thread(backend.publish_sync, group, "lost")
        own_redis.start()
        await asyncio.to_thread(backend.publish_sync, group, "works again")
    finally:
        await backend.close()


@pytest.mark.e2e
async def test_a_first_join_waits_for_the_connection_at_most_timeout_seconds(
    own_redis: RedisServer,
) -> None:
    own_redis.stop()
    backend = fast_reconnecting(own_redis.url, timeout=0.3)
    group = unique_group()
    try:
        async with backend.subscribe(group) as subscription:
            # Redis is down: the join gave up waiting, the subscription waits on.
            assert not backend.connected
            own_redis.start()
            await backend.wait_connected(timeout=5)
            await backend.publish(group, "eventually")
            assert await receive(subscription) == "eventually"
    finally:
        await backend.close()


@pytest.mark.e2e
async def test_a_silent_dead_connection_is_detected_by_the_health_check(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "django_asgi_ws.broadcast")
    backend = fast_reconnecting(own_redis.url, timeout=0.5)
    backend.health_check_interval = 0.1
    group = unique_group()
    assert own_redis.process is not None
    pid = own_redis.process.pid
    try:
        async with backend.subscribe(group) as subscription:
            await asyncio.sleep(0.3)  # idle: pinged, and answered
            assert backend.connected
            os.kill(pid, signal.SIGSTOP)  # no RST, no FIN: only silence
            try:
                await eventually(lambda: not backend.connected, timeout=5)
            finally:
                os.kill(pid, signal.SIGCONT)
            await backend.wait_connected(timeout=5)
            await backend.publish(group, "alive again")
            assert await receive(subscription) == "alive again"
    finally:
        await backend.close()
    assert any("no answer to PING" in r.getMessage() for r in caplog.records)
