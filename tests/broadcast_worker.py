"""Another OS process for the cross-process broadcast tests.

``python -m tests.broadcast_worker subscribe CONFIG GROUP COUNT`` prints READY
once subscribed, then each message received as a line of JSON, and exits after
COUNT messages. ``python -m tests.broadcast_worker publish CONFIG GROUP
MESSAGE...`` publishes each MESSAGE (JSON) with ``publish_sync``, without any
event loop, as a management command or a task worker would. ``python -m
tests.broadcast_worker track CONFIG GROUP KEY`` joins GROUP, is present there
under KEY (meta: its pid), prints READY and waits to be killed. CONFIG is a
``WEBSOCKET_BROADCAST`` dict in JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

from django_asgi_ws.broadcast.loading import create_backend  # noqa: E402


def as_json(data: Any) -> Any:
    return {"bytes": data.hex()} if isinstance(data, bytes) else data


async def subscribe(config: dict[str, Any], group: str, count: int) -> None:
    backend = create_backend(config)
    try:
        async with backend.subscribe(group, queue_size=count) as subscription:
            print("READY", flush=True)
            for _ in range(count):
                message = await asyncio.wait_for(subscription.get_message(), 30)
                print(json.dumps({"group": message.group, "data": as_json(message.data)}))
            sys.stdout.flush()
    finally:
        await backend.close()


async def track(config: dict[str, Any], group: str, key: str) -> None:
    backend = create_backend(config)
    async with backend.subscribe(group) as subscription:
        await subscription.track(group, key, {"pid": os.getpid()})
        print("READY", flush=True)
        await asyncio.sleep(3600)


def publish(config: dict[str, Any], group: str, messages: list[str]) -> None:
    backend = create_backend(config)
    try:
        for message in messages:
            backend.publish_sync(group, json.loads(message))
    finally:
        backend.close_sync()


if __name__ == "__main__":
    command, config, group, *rest = sys.argv[1:]
    if command == "subscribe":
        asyncio.run(subscribe(json.loads(config), group, int(rest[0])))
    elif command == "track":
        asyncio.run(track(json.loads(config), group, rest[0]))
    else:
        publish(json.loads(config), group, rest)
