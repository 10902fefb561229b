"""Presence: who is in a group, across processes, on memory, Redis and PostgreSQL.

A subscription tracks itself in a group under a key with a meta;
``presence()`` lists every entry of every process, and the subscriptions
that ask get join and leave events in order with the group's messages. The
entries of a process killed with SIGKILL expire. PostgreSQL keeps presence
in the table of the app's migrations, in the test database of the ``pg`` alias.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
from django.db import connections

from django_asgi_ws.broadcast import Backend
from tests.broadcast_support import (
    BACKENDS_WITH_TABLES,
    ON_POSTGRES_TABLES,
    Backends,
    eventually,
    history_setting,
    receive_messages,
    redis_url,
    unique_group,
)
from tests.live import ROOT
from tests.pg import database_alias


@pytest.fixture(params=BACKENDS_WITH_TABLES)
async def backends(request: pytest.FixtureRequest) -> AsyncIterator[Backends]:
    async with Backends(request.param, history={}) as created:
        yield created


@pytest.fixture
def backend(backends: Backends) -> Backend:
    """A backend whose groups keep no history: presence needs none."""
    return backends.new()


@pytest.fixture
def group() -> str:
    return unique_group("lobby")


receive = receive_messages


async def test_a_tracked_subscriber_is_present_in_every_process(
    backends: Backends, backend: Backend, group: str
) -> None:
    elsewhere = backends.other_process(backend)
    async with backend.subscribe(group) as subscription:
        assert await elsewhere.presence(group) == {}
        await subscription.track(group, "17", {"name": "ada"})
        assert await backend.presence(group) == {"17": [{"name": "ada"}]}
        assert await elsewhere.presence(group) == {"17": [{"name": "ada"}]}
    assert await elsewhere.presence(group) == {}


async def test_one_key_in_several_tabs_is_one_key_with_several_metas(
    backends: Backends, backend: Backend, group: str
) -> None:
    elsewhere = backends.other_process(backend)
    async with backend.subscribe(group) as tab, elsewhere.subscribe(group) as other_tab:
        await tab.track(group, "17", {"tab": 1})
        await other_tab.track(group, "17", {"tab": 2})
        await other_tab.track(group, "18")
        present = await backend.presence(group)
        assert sorted(present) == ["17", "18"]
        assert sorted(meta["tab"] for meta in present["17"]) == [1, 2]
        assert present["18"] == [None]


async def test_leaving_the_group_untracks_and_other_groups_are_apart(
    backend: Backend, group: str
) -> None:
    other = unique_group("lobby")
    async with backend.subscribe(group, other) as subscription:
        await subscription.track(group, "17")
        await subscription.track(other, "17")
        await subscription.leave(group)
        assert await backend.presence(group) == {}
        assert await backend.presence(other) == {"17": [None]}


async def test_subscribers_that_ask_get_join_and_leave_events_in_order_with_messages(
    backends: Backends, backend: Backend, group: str
) -> None:
    elsewhere = backends.other_process(backend)
    async with (
        backend.subscribe(group, presence_events=True) as watcher,
        backend.subscribe(group) as uninterested,
    ):
        async with elsewhere.subscribe(group) as visitor:
            await visitor.track(group, "ada", {"via": "web"})
            await elsewhere.publish(group, "hello")
        await elsewhere.publish(group, "after")
        events = await receive(watcher, 4)
        entry = events[0].data["entry"]
        assert [(m.event, m.data) for m in events] == [
            ("join", {"entry": entry, "key": "ada", "meta": {"via": "web"}}),
            ("message", "hello"),
            ("leave", {"entry": entry, "key": "ada", "meta": {"via": "web"}}),
            ("message", "after"),
        ]
        assert [m.data for m in await receive(uninterested, 2)] == ["hello", "after"]


async def test_tracking_needs_the_group_joined_a_key_and_json_meta(
    backend: Backend, group: str
) -> None:
    async with backend.subscribe(group) as subscription:
        with pytest.raises(RuntimeError, match="join it first"):
            await subscription.track(unique_group(), "17")
        with pytest.raises(ValueError, match="key"):
            await subscription.track(group, "")
        with pytest.raises(ValueError, match="JSON"):
            await subscription.track(group, "17", {"a set": {1}})
        with pytest.raises(ValueError, match="limit"):
            await subscription.track(group, "17", "x" * 5000)
        assert await backend.presence(group) == {}


# A process killed without cleaning up -------------------------------------------------


def killable_config(kind: str) -> dict[str, Any]:
    """A setting for another process, with a short PRESENCE_TIMEOUT."""
    config = history_setting(kind, {}, PRESENCE_TIMEOUT=1.0)
    if kind == "postgres":  # the test database, by DSN: the worker has no test settings
        database = connections[database_alias()].settings_dict
        config.pop("OPTIONS")
        config["LOCATION"] = (
            f"postgresql://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        )
    return config


@pytest.mark.parametrize("kind", ["redis", pytest.param("postgres", marks=ON_POSTGRES_TABLES)])
async def test_the_entries_of_a_process_killed_with_sigkill_expire(kind: str) -> None:
    group = unique_group("lobby")
    config = killable_config(kind)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "tests.broadcast_worker", "track", json.dumps(config), group, "ghost"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    backends = Backends(kind, history={})
    backend = backends.new(prefix=config["PREFIX"], PRESENCE_TIMEOUT=1.0)
    try:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 30) == b"READY\n"
        async with backend.subscribe(group, presence_events=True) as watcher:
            assert await backend.presence(group) == {"ghost": [{"pid": process.pid}]}
            await asyncio.sleep(1.5)  # past the timeout: its heartbeat keeps it there
            assert await backend.presence(group) == {"ghost": [{"pid": process.pid}]}

            os.kill(process.pid, signal.SIGKILL)
            await process.wait()

            async def gone() -> bool:
                return await backend.presence(group) == {}

            for _ in range(40):
                if await gone():
                    break
                await asyncio.sleep(0.1)
            assert await gone()
            # Sweeping it told the subscribers that asked.
            [left] = await receive(watcher, 1)
            assert (left.event, left.data) == (
                "leave",
                {"entry": left.data["entry"], "key": "ghost", "meta": {"pid": process.pid}},
            )
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await backends.close()


async def test_presence_comes_back_by_itself_after_redis_loses_it(group: str) -> None:
    """The heartbeat adds an entry again when the broker no longer has it."""
    backends = Backends("redis", history={})
    backend = backends.new(PRESENCE_TIMEOUT=0.6)
    try:
        async with backend.subscribe(group, presence_events=True) as subscription:
            await subscription.track(group, "17")
            [joined] = await receive(subscription, 1)
            assert joined.event == "join"
            raw = redis.asyncio.Redis.from_url(redis_url())
            await raw.delete(f"{backend.prefix}{group}|presence")
            await raw.aclose()
            assert await backend.presence(group) == {}
            await eventually(lambda: subscription.pending > 0, timeout=3)
            [rejoined] = await receive(subscription, 1)
            # The same entry, with the same id as when it first joined.
            assert (rejoined.event, rejoined.data) == (
                "join",
                {"entry": joined.data["entry"], "key": "17", "meta": None},
            )
            assert await backend.presence(group) == {"17": [None]}
    finally:
        await backends.close()
