"""A subscription: the groups one consumer joined and its bounded queue of messages."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from django_asgi_ws.broadcast.errors import BroadcastError, SubscriberTooSlow
from django_asgi_ws.broadcast.history import Position, parse_position
from django_asgi_ws.broadcast.membership import Delivery, GroupRegistry, Message
from django_asgi_ws.broadcast.options import OverflowPolicy, validate_group
from django_asgi_ws.broadcast.recovery import Seams

__all__ = ["Message", "SubscriberTooSlow", "Subscription"]


class Subscription:
    """Messages of the groups joined, in arrival order, at most ``queue_size`` waiting.

    Use it as ``async with broadcast.subscribe("a", "b") as subscription``, then
    ``async for data in subscription``, ``await subscription.get()`` (the data)
    or ``await subscription.get_message()`` (a Message, with its group and
    position). A gap marker has no data: ``get()`` and ``async for`` give its
    Message itself.
    Leaving the ``async with`` leaves every group; the iteration ends when the
    subscription (or the backend, at server shutdown) closes.

    When the queue is full, ``overflow`` decides: ``"drop_oldest"`` drops the
    oldest waiting message and counts it in ``dropped``; ``"close"`` empties
    the queue and makes the next read raise SubscriberTooSlow.

    Waiting for a message is safe to cancel: a cancelled ``get()`` loses
    nothing, so ``get()`` can race another awaitable in ``asyncio.wait``.

    A message is decoded once per process, and every subscription of the
    process receives the same object: treat it as read-only, and copy it
    (``copy.deepcopy``) before changing it.
    """

    def __init__(
        self,
        backend: GroupRegistry,
        groups: Iterable[str],
        *,
        queue_size: int,
        overflow: OverflowPolicy,
        since: Mapping[str, Position] | None = None,
        presence_events: bool = False,
    ) -> None:
        #: The backend the subscription belongs to.
        self.backend = backend
        #: The most messages waiting at once; then :attr:`overflow` applies.
        self.queue_size = queue_size
        #: What a message arriving at a full queue does: ``"drop_oldest"`` or ``"close"``.
        self.overflow: OverflowPolicy = overflow
        #: How many messages were dropped because the queue was full.
        self.dropped = 0
        #: Whether the histories gave every message since the ``since`` positions
        #: (of ``subscribe()`` and of ``join()``): ``None`` without any, else known
        #: once the ``async with`` is entered; False if one group was not recovered.
        self.recovered: bool | None = None
        #: Whether the groups' join and leave events (see :meth:`track`) are delivered.
        self.presence_events = presence_events
        self._entries: dict[str, list[str]] = {}  # group -> presence entries
        self._initial = tuple(validate_group(group) for group in groups)
        self._since = dict(since or {})
        self._seams = Seams()
        self._groups: set[str] = set()
        self._queue: deque[Delivery] = deque()
        # The reader waiting for a message, if any: a bare future, cheaper than an Event.
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._too_slow = False
        # A reader that can take a message in the publisher's turn, when nothing
        # waits before it (see set_direct).
        self._direct: Callable[[Delivery], bool] | None = None
        # Told of an overflow under overflow="close" (see set_overflow_handler).
        self._on_overflow: Callable[[], object] | None = None

    def __repr__(self) -> str:
        groups = sorted(self._groups or self._initial)
        return f"<Subscription groups={groups!r}{' closed' if self._closed else ''}>"

    @property
    def groups(self) -> frozenset[str]:
        """The groups joined."""
        return frozenset(self._groups)

    @property
    def pending(self) -> int:
        """How many messages wait in the queue."""
        return len(self._queue)

    @property
    def closed(self) -> bool:
        """Whether the subscription is closed (by :meth:`close`, or by the backend's closing)."""
        return self._closed

    @property
    def overflowed(self) -> bool:
        """Whether the queue overflowed under ``overflow="close"`` (reads now raise)."""
        return self._too_slow

    # Membership ---------------------------------------------------------------

    async def __aenter__(self) -> Subscription:
        try:
            for group in self._initial:
                await self.join(group, since=self._since.get(group))
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def join(self, group: str, since: str | Position | None = None) -> bool | None:
        """Receive *group*'s messages published from the moment this returns.

        With *since*, a position of *group*, first receive what its history
        holds after that position, then the live messages, with no gap and no
        duplicate between them; return whether the history held all of them
        (None without *since*). ValueError if *since* is malformed.
        """
        group = validate_group(group)
        after = parse_position(since) if isinstance(since, str) else since
        if self._closed:
            raise RuntimeError(f"Cannot join {group!r}: the subscription is closed.")
        if group in self._groups:
            return None
        self._groups.add(group)
        if after is not None:
            self._seams.hold(group)
        try:
            await self.backend.register(self, group)
            if after is None:
                return None
            recovered, entries = await self.backend.recover(group, after)
        except BaseException:
            self._seams.forget(group)
            if not self.backend.is_registered(self, group):
                self._groups.discard(group)  # refused before it was registered
            raise
        for delivery in self._seams.release(group, recovered, entries, after):
            # Past the queue's bound: the history's size bounds what was read.
            self._queue.append(delivery)
        self._wake()
        self.recovered = recovered and self.recovered is not False
        return recovered

    async def leave(self, group: str) -> None:
        """Stop receiving *group*; its messages still in the queue are dropped too."""
        group = validate_group(group)
        if group not in self._groups:
            return
        self._groups.discard(group)
        self._seams.forget(group)
        if any(item[0] == group for item in self._queue):
            self._queue = deque(item for item in self._queue if item[0] != group)
        self.backend.unregister(self, group)
        await self._untrack(group)  # last: the leave is complete even if this is cancelled

    async def close(self) -> None:
        """Leave every group and end the iteration; closing twice does nothing."""
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        self._wake()
        groups, self._groups = self._groups, set()
        for group in groups:
            self.backend.unregister(self, group)
        self.backend.forget(self)
        for group in list(self._entries):
            await self._untrack(group)

    async def track(self, group: str, key: str, meta: Any = None) -> None:
        """Be present in *group*, a group joined, under *key* (a user id, say) with *meta*.

        ``broadcast.presence(group)`` lists it in every process until this
        subscription leaves the group or closes. *meta* is JSON-serialisable;
        ValueError if not, or if *key* is not a non-empty str.
        """
        if group not in self._groups:
            raise RuntimeError(f"Cannot track in {group!r}: join it first.")
        entry = await self.backend.track(group, key, meta)
        self._entries.setdefault(group, []).append(entry)

    async def _untrack(self, group: str) -> None:
        for entry in self._entries.pop(group, ()):
            with contextlib.suppress(BroadcastError):  # else it expires by itself
                await self.backend.untrack(entry)

    # Reading ------------------------------------------------------------------

    async def get(self) -> Any:
        """The next message's data (a gap's Message); RuntimeError once closed."""
        delivery = await self._next()
        if delivery is None:
            raise RuntimeError("The subscription is closed.")
        return delivery.data if delivery.event == "message" else delivery

    async def get_message(self) -> Message:
        """The next message and its group; RuntimeError once the subscription is closed."""
        delivery = await self._next()
        if delivery is None:
            raise RuntimeError("The subscription is closed.")
        return delivery

    def get_message_nowait(self) -> Message | None:
        """The next message and its group if one waits, else None; never waits.

        Raises as :meth:`get_message` does once the subscription is closed.
        """
        if self._too_slow:
            raise SubscriberTooSlow(self.queue_size)
        if self._queue:
            return self._queue.popleft()
        if self._closed:
            raise RuntimeError("The subscription is closed.")
        return None

    def ready(self) -> asyncio.Future[None]:
        """A future done once a read would not wait: a message waits, or the subscription ended.

        For waiting on the subscription and on something else at once without
        a task per message: ``asyncio.wait({subscription.ready(), other}, ...)``,
        then :meth:`get_message_nowait`. Taking nothing, it loses nothing when
        the wait is abandoned.
        """
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = asyncio.get_running_loop().create_future()
        if self._queue or self._closed or self._too_slow:
            self._wake()
        return waiter

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        delivery = await self._next()
        if delivery is None:
            raise StopAsyncIteration
        return delivery.data if delivery.event == "message" else delivery

    async def _next(self) -> Delivery | None:
        """The next delivery, or None once closed."""
        while True:
            if self._too_slow:
                raise SubscriberTooSlow(self.queue_size)
            if self._queue:
                # Taken off the queue only here, after the wait: cancelling a
                # waiting get() therefore never loses a message.
                return self._queue.popleft()
            if self._closed:
                return None
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # The Subscriber protocol, for the backend ---------------------------------

    def put(self, delivery: Delivery) -> None:
        """Queue *delivery*; called by the backend, not by views.

        A full queue applies :attr:`overflow`; a closed subscription ignores it.
        """
        if self._closed or self._too_slow:
            return
        if self._seams and not self._seams.admit(delivery):
            return
        direct = self._direct
        if direct is not None and not self._queue and direct(delivery):
            return  # taken in the publisher's turn: nothing queued, nobody woken
        if len(self._queue) >= self.queue_size:
            if self.overflow == "close":
                self._too_slow = True
                count = len(self._queue) + 1
                self.dropped += count
                self._queue.clear()
                self._wake()
                self.backend.report_dropped(self, count)
                if self._on_overflow is not None:
                    self._on_overflow()
                return
            self._queue.popleft()
            self.dropped += 1
            self.backend.report_dropped(self, 1)
        self._queue.append(delivery)
        self._wake()

    def set_direct(self, reader: Callable[[Delivery], bool] | None) -> None:
        """Offer each message to *reader* before queueing it, while nothing is queued.

        *reader* runs in the publisher's turn: it sends the message on at once
        and returns True, or returns False and the message is queued as usual.
        For a reader that knows what its consumer would do with a message (the
        default ``WebSocketView.on_group_message``) and that the consumer is
        idle: a fan-out then wakes no task per subscriber. None removes it.
        """
        self._direct = reader

    def set_overflow_handler(self, handler: Callable[[], object] | None) -> None:
        """Call *handler* in the publisher's turn when the queue overflows under
        ``overflow="close"``, besides making the next read raise; None removes it.

        For a consumer that may not read for a long time: a view waiting in a
        send to a client that stopped reading, whose connection the handler
        closes at once (see ``forwarding.close_when_stalled``).
        """
        self._on_overflow = handler

    def backend_closed(self) -> None:
        """End the iteration because the backend closed; called by the backend, not by views."""
        self._closed = True
        self._groups.clear()
        self._queue.clear()
        self._wake()
