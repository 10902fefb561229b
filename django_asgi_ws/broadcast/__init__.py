"""Send messages to groups of subscribers, within one process or across many.

::

    from django_asgi_ws import broadcast

    await broadcast.publish("chat", {"text": "hello"})   # async code
    broadcast.publish_sync("chat", {"text": "hello"})    # sync code
    broadcast.publish_on_commit("chat", {"text": "hello"})  # once the transaction commits

    async with broadcast.subscribe("chat") as subscription:
        async for message in subscription:
            ...

    # A group with history (WEBSOCKET_BROADCAST["HISTORY"]): what was missed since a position
    async with broadcast.subscribe("chat", since=position) as subscription:
        ...

    # Who is there, in every process
    await subscription.track("chat", str(user.pk), {"name": user.username})
    await broadcast.presence("chat")   # {"17": [{"name": "ada"}], ...}

The backend comes from the ``WEBSOCKET_BROADCAST`` setting (memory by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django_asgi_ws.broadcast.base import Backend
from django_asgi_ws.broadcast.errors import BroadcastError, SubscriberTooSlow
from django_asgi_ws.broadcast.listen import listen
from django_asgi_ws.broadcast.loading import aclose, get_backend
from django_asgi_ws.broadcast.on_commit import publish_on_commit
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
    "position",
    "presence",
    "presence_entries",
    "publish",
    "publish_on_commit",
    "publish_sync",
    "subscribe",
    "validate_group",
]


async def publish(group: str, message: Any) -> str | None:
    """Send *message* (bytes, or JSON-serialisable with DjangoJSONEncoder) to *group*.

    Returns once the broker took it; raises BroadcastError if it cannot.
    Publishing to a group that nobody joined is not an error. For a group
    with history, returns the message's position: an opaque ``str``, ordered
    within the group, to give back as ``since`` to :func:`subscribe`; None
    for a group without history.
    """
    return await get_backend().publish(group, message)


def publish_sync(group: str, message: Any) -> str | None:
    """``publish`` for sync code (sync views, signals, management commands, workers).

    In a thread of a server whose event loop runs the backend, the message
    goes through that loop, in order with the loop's own messages; where no
    event loop runs, on a connection of its own. Raises RuntimeError when
    called from async code, whose event loop it would block. Returns the
    position as :func:`publish` does.
    """
    return get_backend().publish_sync(group, message)


def subscribe(
    *groups: str,
    queue_size: int | None = None,
    overflow: OverflowPolicy | None = None,
    since: str | Mapping[str, str | None] | None = None,
    presence_events: bool = False,
) -> Subscription:
    """A Subscription to *groups*, to use as ``async with``.

    The groups are joined on entry and left on exit. *queue_size* and
    *overflow* override the setting's ``QUEUE_SIZE`` and ``OVERFLOW`` for this
    subscription.

    *since* is the last position a client saw: a position (with one group)
    or a dict of groups to positions. The subscription first delivers what
    the groups' histories hold after them, in order, then the live messages,
    with no gap and no duplicate in between; ``subscription.recovered`` says,
    once the ``async with`` is entered, whether the histories held all of it.
    A malformed position raises ValueError here.

    With *presence_events*, the groups' presence events arrive too, in order
    with their messages: a :class:`Message` whose ``event`` is ``"join"`` or
    ``"leave"`` and whose ``data`` is ``{"key": ..., "meta": ...}``.
    """
    return get_backend().subscribe(
        *groups,
        queue_size=queue_size,
        overflow=overflow,
        since=since,
        presence_events=presence_events,
    )


async def presence(group: str) -> dict[str, list[Any]]:
    """Who is in *group*, across every process: ``{key: [meta, ...]}``.

    The entries that subscriptions added with :meth:`Subscription.track`; a
    key tracked several times (tabs, devices) has one meta per entry. Those
    of a process that died without cleaning up are gone within
    ``PRESENCE_TIMEOUT`` seconds.
    """
    return await get_backend().presence(group)


async def presence_entries(group: str) -> dict[str, dict[str, Any]]:
    """*group*'s presence entry by entry: ``{entry id: {"key": ..., "meta": ...}}``.

    The ids are those of the join and leave events (``message.data["entry"]``):
    a client given both applies each event once, whichever it saw first.
    """
    return await get_backend().presence_entries(group)


async def position(group: str) -> str | None:
    """The position of the last message *group*'s history holds.

    None when the group keeps no history or it holds nothing. Give it as
    ``since`` when joining, and nothing published from now on is missed.
    Raises BroadcastError if the broker cannot answer.
    """
    return await get_backend().position(group)
