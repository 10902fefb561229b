"""The contract every backend fulfils: local fan-out, lifecycle, publishing from any context.

A backend holds, per process, the subscriptions of that process and the groups
they joined. A message reaching the process (published locally for the memory
backend, or received from the broker) is handed to each subscription of its
group. The broker only ever sees one subscription per group and process.

Delivery guarantees, the same for every backend:

- at most once: a message is never delivered twice, and may be lost (broker
  outage, a subscriber too slow, a process not yet subscribed), unless its
  group keeps a history: then what a subscriber missed is recovered from it,
  or reported by a gap marker;
- in publish order per publisher and group: messages that one task or thread
  publishes one after the other to one group arrive in that order;
- bounded memory: each subscription queues at most ``queue_size`` messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from django_asgi_ws.broadcast.drops import DropReporter
from django_asgi_ws.broadcast.encoding import parse, split_position, unpack
from django_asgi_ws.broadcast.errors import BroadcastError
from django_asgi_ws.broadcast.history import (
    HistorySettings,
    Position,
    positions_by_group,
    validate_history,
)
from django_asgi_ws.broadcast.membership import Delivery, LocalGroups, Message, Subscriber
from django_asgi_ws.broadcast.options import (
    DEFAULT_OVERFLOW,
    DEFAULT_PREFIX,
    DEFAULT_PRESENCE_TIMEOUT,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_TIMEOUT,
    OverflowPolicy,
    validate_group,
    validate_location,
    validate_overflow,
    validate_prefix,
    validate_presence_timeout,
    validate_queue_size,
    validate_timeout,
)
from django_asgi_ws.broadcast.presence import EVENT_TAG, Tracking, parse_event
from django_asgi_ws.broadcast.publishing import Publishing
from django_asgi_ws.broadcast.recovery import deliveries_of
from django_asgi_ws.broadcast.subscription import Subscription

logger = logging.getLogger("django_asgi_ws.broadcast")

__all__ = ["Backend", "BroadcastError", "OverflowPolicy", "validate_group"]


class Backend(Publishing, Tracking):
    """Base class of the backends: local fan-out, lifecycle and the publish entry points.

    Subclasses implement ``_publish`` (on the event loop) and
    ``_publish_without_loop`` (from a thread with no event loop), their
    ``_history`` variants and ``_read_history`` for groups with history, and
    override the ``_group_added`` / ``_group_removed`` / ``_group_ready`` hooks
    to subscribe at the broker.

    All async methods run on the event loop the backend was opened on; other
    threads use ``publish_sync``.
    """

    #: URL schemes LOCATION may use; empty when the backend takes no LOCATION.
    location_schemes: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        location: str | None = None,
        options: Mapping[str, Any] | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        overflow: OverflowPolicy = DEFAULT_OVERFLOW,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
        history: HistorySettings | None = None,
        presence_timeout: float = DEFAULT_PRESENCE_TIMEOUT,
    ) -> None:
        if location is not None:
            self.validate_location(location)
        self.location = location
        self.options: dict[str, Any] = dict(options or {})
        self.queue_size = validate_queue_size(queue_size)
        self.overflow = validate_overflow(overflow)
        self.prefix = validate_prefix(prefix)
        self.timeout = validate_timeout(timeout)
        #: The groups that keep a history, and how much of it.
        self.history = history or HistorySettings()
        #: Seconds after which the presence entries of a dead process are gone.
        self.presence_timeout = validate_presence_timeout(presence_timeout)
        self.drops = DropReporter()
        self._tracked = {}
        self._heartbeat = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._local = LocalGroups()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Backend:
        """Build the backend from a ``WEBSOCKET_BROADCAST``-style dict (already validated)."""
        return cls(
            location=config.get("LOCATION"),
            options=config.get("OPTIONS"),
            queue_size=config.get("QUEUE_SIZE", DEFAULT_QUEUE_SIZE),
            overflow=config.get("OVERFLOW", DEFAULT_OVERFLOW),
            prefix=config.get("PREFIX", DEFAULT_PREFIX),
            timeout=config.get("TIMEOUT", DEFAULT_TIMEOUT),
            history=validate_history(config["HISTORY"]) if "HISTORY" in config else None,
            presence_timeout=config.get("PRESENCE_TIMEOUT", DEFAULT_PRESENCE_TIMEOUT),
        )

    @classmethod
    def validate_location(cls, location: object) -> None:
        """Raise ValueError if this backend cannot use *location*."""
        validate_location(location, cls.location_schemes, backend=cls.__name__)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} prefix={self.prefix!r}>"

    # Lifecycle ----------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether the backend is open on an event loop that is not closed."""
        return self._loop is not None and not self._loop.is_closed()

    async def open(self) -> None:
        """Bind the backend to the running event loop and prepare its connections.

        Opening twice does nothing. Never raises because the broker is down:
        publishing raises BroadcastError until it is back, subscriptions wait.
        """
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        if self._loop is not None and not self._loop.is_closed():
            raise RuntimeError(
                f"{self!r} is open on the event loop of another thread; use publish_sync() "
                "from other threads, or a backend of its own for each event loop."
            )
        self._forget_state()
        self._loop = loop
        await self._open()

    async def close(self) -> None:
        """End every subscription and close the broker connections."""
        try:
            if self._loop is not None:
                await self._stop_tracking()
                self._local.end_all()
                await self._close()
        finally:
            self._loop = None
            self.close_sync()

    def close_sync(self) -> None:
        """Close the connections that ``publish_sync`` opened in threads without a loop."""

    def _forget_state(self) -> None:
        """Drop what belonged to a closed event loop, so that another one can use the backend."""
        self._local.clear()
        self._tracked = {}
        self._heartbeat = None

    async def ping(self) -> None:
        """Check that the broker answers; BroadcastError saying what is wrong if not."""
        await self.open()

    async def _open(self) -> None:
        """Subclass hook: create clients on the running loop (no I/O required)."""

    async def _close(self) -> None:
        """Subclass hook: close clients and cancel background tasks."""

    # Subscribing --------------------------------------------------------------

    def subscribe(
        self,
        *groups: str,
        queue_size: int | None = None,
        overflow: OverflowPolicy | None = None,
        since: str | Mapping[str, str | None] | None = None,
        presence_events: bool = False,
    ) -> Subscription:
        """A subscription to *groups*, joined on ``async with``; more can join later.

        *since* and *presence_events*: see :func:`django_asgi_ws.broadcast.subscribe`.
        """
        return Subscription(
            self,
            groups,
            queue_size=self.queue_size if queue_size is None else validate_queue_size(queue_size),
            overflow=self.overflow if overflow is None else validate_overflow(overflow),
            since=positions_by_group(groups, since),
            presence_events=presence_events,
        )

    async def position(self, group: str) -> str | None:
        """The position of the last message *group*'s history holds; None if none or no history.

        Raises BroadcastError if the broker cannot answer.
        """
        policy = self.history.policy_for(validate_group(group))
        if policy is None:
            return None
        await self.open()
        head = (await self._read_history(group, policy, None)).head
        return None if head is None else str(head)

    async def recover(self, group: str, after: Position) -> tuple[bool, list[Delivery]]:
        """*group*'s messages after *after* from its history, if it holds them all.

        ``(False, [])`` when it does not (trimmed, expired, another incarnation
        or another group's position), when the group keeps no history here,
        and when the broker cannot be read (logged).
        """
        policy = self.history.policy_for(group)
        if policy is None:
            return False, []
        await self.open()
        try:
            read = await self._read_history(group, policy, after)
        except BroadcastError as exc:
            logger.warning("Cannot recover group %r from its history: %s", group, exc)
            return False, []
        if not read.recovers(after):
            return False, []
        return True, deliveries_of(group, read, after)

    @property
    def local_groups(self) -> frozenset[str]:
        """The groups that at least one subscription of this process has joined."""
        return self._local.names

    # What subscriptions call (the GroupRegistry protocol) ---------------------

    async def register(self, subscriber: Subscriber, group: str) -> None:
        """Make *subscriber* a member of *group*; return once its messages reach this process."""
        await self.open()
        if self._local.add(subscriber, group):
            self._group_added(group)
        await self._group_ready(group)

    def unregister(self, subscriber: Subscriber, group: str) -> None:
        """Remove *subscriber* from *group*; synchronous, so no cancellation stops it half-way."""
        if self._local.remove(subscriber, group):
            self._group_removed(group)

    def is_registered(self, subscriber: Subscriber, group: str) -> bool:
        """Whether *subscriber* is a member of *group* in this process."""
        return self._local.has(subscriber, group)

    def forget(self, subscriber: Subscriber) -> None:
        """*subscriber* closed: closing the backend no longer needs to end it."""
        self._local.forget(subscriber)

    def report_dropped(self, subscriber: Subscriber, count: int) -> None:
        """Count *count* messages dropped for *subscriber*; a WARNING at most every 10 s."""
        self.drops.report(subscriber, count)

    def _group_added(self, group: str) -> None:
        """Hook: *group* has its first subscriber in this process."""

    def _group_removed(self, group: str) -> None:
        """Hook: *group* lost its last subscriber in this process."""

    async def _group_ready(self, group: str) -> None:
        """Hook: return once messages published to *group* from now on reach this process."""

    def _deliver(self, group: str, frame: bytes) -> None:
        """Hand one message (positioned or not) to every subscription of *group* in this process."""
        members = self._local.members(group)
        if not members:
            return
        if frame[:1] == EVENT_TAG:
            self._deliver_event(group, frame)
            return
        try:
            position, frame = split_position(frame)
            data = parse(unpack(frame))
        except ValueError as exc:
            logger.warning("Skipped a malformed message in group %r: %s", group, exc)
            return
        # Decoded once, and the same objects handed to every subscription: a
        # copy each would cost more than the whole rest of the fan-out.
        delivery = Message(group, data, position, "message")
        for subscriber in members:
            subscriber.put(delivery)

    def _deliver_event(self, group: str, frame: bytes) -> None:
        """Hand a presence event to the subscriptions of *group* that asked for them."""
        try:
            event, member = parse_event(frame)
        except ValueError as exc:
            logger.warning("Skipped a malformed presence event in group %r: %s", group, exc)
            return
        delivery = Message(group, member, None, event)
        for subscriber in self._local.members(group):
            if subscriber.presence_events:
                subscriber.put(delivery)

    def _deliver_gap(self, group: str, position: str | None) -> None:
        """Tell every subscription of *group* that messages before *position* were lost."""
        delivery = Message(group, None, position, "gap")
        for subscriber in self._local.members(group):
            subscriber.put(delivery)
