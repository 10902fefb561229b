"""Send messages to groups of subscribers, within one process or across many.

::

    from django_asgi_ws import broadcast

    await broadcast.publish("chat", {"text": "hello"})   # async code
    broadcast.publish_sync("chat", {"text": "hello"})    # sync code

    async with broadcast.subscribe("chat") as subscription:
        async for message in subscription:
            ...

The backend comes from the ``WEBSOCKET_BROADCAST`` setting (memory by default).
"""

from __future__ import annotations

from typing import Any

from django_asgi_ws.broadcast.base import Backend
from django_asgi_ws.broadcast.errors import BroadcastError, SubscriberTooSlow
from django_asgi_ws.broadcast.listen import listen
from django_asgi_ws.broadcast.loading import aclose, get_backend
from django_asgi_ws.broadcast.options import OverflowPolicy, validate_group
from django_asgi_ws.broadcast.subscription import Message, Subscription

__all__ = [
    "Backend",
    "BroadcastError",
    "Message",
    "SubscriberTooSlow",
    "Subscription",
    "aclose",
    "get_backend",
    "listen",
    "publish",
    "publish_sync",
    "subscribe",
    "validate_group",
]


async def publish(group: str, message: Any) -> None:
    """Send *message* (bytes, or JSON-serialisable with DjangoJSONEncoder) to *group*.

    Returns once the broker took it; raises BroadcastError if it cannot.
    Publishing to a group that nobody joined is not an error.
    """
    await get_backend().publish(group, message)


def publish_sync(group: str, message: Any) -> None:
    """``publish`` for sync code (sync views, signals, management commands, workers).

    In a thread of a server whose event loop runs the backend, the message
    goes through that loop, in order with the loop's own messages; where no
    event loop runs, on a connection of its own. Raises RuntimeError when
    called from async code, whose event loop it would block.
    """
    get_backend().publish_sync(group, message)


def subscribe(
    *groups: str, queue_size: int | None = None, overflow: OverflowPolicy | None = None
) -> Subscription:
    """A Subscription to *groups*, to use as ``async with``.

    The groups are joined on entry and left on exit. *queue_size* and
    *overflow* override the setting's ``QUEUE_SIZE`` and ``OVERFLOW`` for this
    subscription.
    """
    return get_backend().subscribe(*groups, queue_size=queue_size, overflow=overflow)
