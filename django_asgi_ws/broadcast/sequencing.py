"""Messages of groups with history, in order and once per process, whatever the broker did.

A process with a broker hears a group through one listening connection. When
that connection drops, what is published until it is back never arrives;
sequence numbers without holes make the loss visible. For each group with
history joined in the process, the :class:`Sequencer` remembers the last
position delivered. After a reconnection, or when a message arrives whose
number is not the next one, it reads the history from that position and
delivers what was missed before the messages held meanwhile; when the
history cannot give it all (trimmed, expired, lost with the broker), it
delivers a gap marker instead, in order, then carries on from the history's
head. Messages already delivered (seen again in the history) are dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from django_asgi_ws.broadcast.cancellation import cancel_and_wait
from django_asgi_ws.broadcast.encoding import split_position, with_position
from django_asgi_ws.broadcast.errors import BroadcastError
from django_asgi_ws.broadcast.history import HistoryRead, Position, parse_position

logger = logging.getLogger("django_asgi_ws.broadcast")

Read = Callable[[str, "Position | None"], Awaitable[HistoryRead]]


@dataclass
class _Feed:
    #: The last position delivered in this process.
    head: Position | None = None
    #: The history's head when the group was joined, until a message sets ``head``.
    floor: Position | None = None
    #: Live messages held while the history is read: (position, positioned frame).
    pending: list[tuple[Position, bytes]] | None = None
    joined: bool = False


class Sequencer:
    """Delivers the positioned messages of groups with history, filling gaps from the history.

    *deliver* hands a positioned frame to the group's subscriptions,
    *deliver_gap* a gap marker with the position delivery resumes after, and
    *read* reads a group's history after a position (None: the head only).
    """

    def __init__(
        self,
        deliver: Callable[[str, bytes], None],
        deliver_gap: Callable[[str, str | None], None],
        read: Read,
    ) -> None:
        self._deliver = deliver
        self._deliver_gap = deliver_gap
        self._read = read
        self._feeds: dict[str, _Feed] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        #: How many gaps were filled from the history, and how many were marked.
        self.filled = 0
        self.marked = 0

    def __contains__(self, group: str) -> bool:
        return group in self._feeds

    def add(self, group: str) -> None:
        self._feeds.setdefault(group, _Feed())

    def remove(self, group: str) -> None:
        self._feeds.pop(group, None)

    async def joined(self, group: str) -> None:
        """Note the history's head when *group* was joined (once), should nothing arrive."""
        feed = self._feeds.get(group)
        if feed is None or feed.joined:
            return
        feed.joined = True
        try:
            feed.floor = (await self._read(group, None)).head
        except BroadcastError as exc:
            logger.debug("No head for group %r: %s", group, exc)

    def received(self, group: str, frame: bytes) -> None:
        """A live message of *group*: delivered, held, or dropped as already delivered."""
        feed = self._feeds.get(group)
        text, _ = split_position(frame)
        if feed is None or text is None:
            self._deliver(group, frame)
            return
        position = parse_position(text)
        if feed.pending is not None:
            feed.pending.append((position, frame))
            return
        self._sequence(group, feed, position, frame)

    def reconnected(self) -> None:
        """The listening connection is back: recover what each group missed meanwhile."""
        for group, feed in self._feeds.items():
            if feed.pending is None:
                self._fill(group, feed, feed.head or feed.floor, [])

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, set()
        await cancel_and_wait(*tasks)
        self._feeds.clear()

    def _sequence(self, group: str, feed: _Feed, position: Position, frame: bytes) -> None:
        head = feed.head
        if head is None:
            feed.head = position
            self._deliver(group, frame)
            return
        if position.incarnation == head.incarnation:
            if position.sequence <= head.sequence:
                return  # delivered already, from the history
            expected = Position(head.incarnation, head.sequence + 1)
        else:
            expected = Position(position.incarnation, 1)  # a new history begins
        if position == expected:
            feed.head = position
            self._deliver(group, frame)
            return
        after = Position(expected.incarnation, expected.sequence - 1)
        self._fill(group, feed, after, [(position, frame)])

    def _fill(
        self, group: str, feed: _Feed, after: Position | None, held: list[tuple[Position, bytes]]
    ) -> None:
        feed.pending = held
        task = asyncio.ensure_future(self._recover(group, feed, after))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recover(self, group: str, feed: _Feed, after: Position | None) -> None:
        try:
            read: HistoryRead | None = await self._read(group, after)
        except BroadcastError as exc:
            logger.warning("Cannot recover group %r from its history: %s", group, exc)
            read = None
        if self._feeds.get(group) is not feed:
            return  # left meanwhile
        if read is not None and after is not None and read.recovers(after):
            for sequence, frame in read.entries:
                position = Position(after.incarnation, sequence)
                self._deliver(group, with_position(str(position), frame))
            feed.head = read.head
            self.filled += 1
        else:
            head = read.head if read is not None else None
            self._deliver_gap(group, str(head) if head is not None else None)
            feed.head = head
            self.marked += 1
        held, feed.pending = feed.pending or [], None
        for index, (position, frame) in enumerate(held):
            self._sequence(group, feed, position, frame)
            pending = _pending(feed)
            if pending is not None:  # another gap: the rest waits behind it
                pending.extend(held[index + 1 :])
                return


def _pending(feed: _Feed) -> list[tuple[Position, bytes]] | None:
    """The messages *feed* holds back while its history is read, if it is being read."""
    return feed.pending
