"""Two OS processes on one broker (the shared Redis or PostgreSQL): what one publishes,
the other receives."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest

from django_asgi_ws.broadcast.backends import POSTGRES, REDIS
from django_asgi_ws.broadcast.loading import create_backend
from tests.broadcast_support import postgres_dsn, redis_url, unique_group, unique_prefix
from tests.live import ROOT


@pytest.fixture(params=["redis", "postgres"])
def config(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A WEBSOCKET_BROADCAST setting for the broker, with a prefix of the test's own."""
    if request.param == "redis":
        return {"BACKEND": REDIS, "LOCATION": redis_url(), "PREFIX": unique_prefix()}
    return {"BACKEND": POSTGRES, "LOCATION": postgres_dsn(), "PREFIX": unique_prefix()}


async def worker(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.broadcast_worker",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )


async def test_another_process_receives_what_this_one_publishes(config: dict[str, Any]) -> None:
    group = unique_group()
    process = await worker("subscribe", json.dumps(config), group, "3")
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), 30) == b"READY\n"
    backend = create_backend(config)
    try:
        await backend.publish(group, {"n": 1})
        await backend.publish(group, b"\x00bytes")
        await backend.publish(group, "z" * 200_000)  # several NOTIFY chunks on PostgreSQL
    finally:
        await backend.close()
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    assert [json.loads(line) for line in output.splitlines()] == [
        {"group": group, "data": {"n": 1}},
        {"group": group, "data": {"bytes": "006279746573"}},
        {"group": group, "data": "z" * 200_000},
    ]


async def test_this_process_receives_what_another_publishes_without_an_event_loop(
    config: dict[str, Any],
) -> None:
    group = unique_group()
    backend = create_backend(config)
    try:
        async with backend.subscribe(group) as subscription:
            messages = [{"n": n} for n in range(5)] + ["y" * 100_000]
            process = await worker(
                "publish", json.dumps(config), group, *(json.dumps(m) for m in messages)
            )
            await asyncio.wait_for(process.communicate(), 30)
            assert process.returncode == 0
            received = [await asyncio.wait_for(subscription.get(), 10) for _ in messages]
            assert received == messages
    finally:
        await backend.close()
