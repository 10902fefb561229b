"""The seam between a group's history and its live messages, for one subscription.

A subscription that joins a group ``since`` a position subscribes first, then
reads the history: whatever is published after the subscription took effect
arrives live, whatever was published before is in what the read returns, and
some messages may be in both. Live messages are therefore held while the
history is read, then released after the history's, without those the
history already gave; and until a live message beyond the last one read
arrives, later duplicates are dropped too (a message published just before
the read may still be on its way).
"""

from __future__ import annotations

import logging

from django_asgi_ws.broadcast.encoding import parse, unpack
from django_asgi_ws.broadcast.history import HistoryRead, Position, format_position, parse_position
from django_asgi_ws.broadcast.membership import Delivery, Message

logger = logging.getLogger("django_asgi_ws.broadcast")


def deliveries_of(group: str, read: HistoryRead, after: Position) -> list[Delivery]:
    """The messages *read* holds after *after*, decoded (the malformed skipped, logged)."""
    deliveries: list[Delivery] = []
    for sequence, frame in read.entries:
        position = format_position(after.incarnation, sequence)
        try:
            deliveries.append(Message(group, parse(unpack(frame)), position, "message"))
        except ValueError as exc:
            logger.warning("Skipped a malformed message in group %r: %s", group, exc)
    return deliveries


class Seams:
    """Per group of one subscription: live messages held back, and the last position recovered."""

    def __init__(self) -> None:
        self._held: dict[str, list[Delivery]] = {}
        self._floors: dict[str, Position] = {}

    def __bool__(self) -> bool:
        return bool(self._held or self._floors)

    def hold(self, group: str) -> None:
        """Keep *group*'s live messages back until :meth:`release`."""
        self._held[group] = []

    def admit(self, delivery: Delivery) -> bool:
        """Whether *delivery* goes to the queue now (False: held back, or already recovered)."""
        group = delivery[0]
        held = self._held.get(group)
        if held is not None:
            held.append(delivery)
            return False
        floor = self._floors.get(group)
        if floor is None or delivery[2] is None or delivery[3] != "message":
            return True
        position = parse_position(delivery[2])
        if position.incarnation == floor.incarnation and position.sequence <= floor.sequence:
            return False
        del self._floors[group]  # in order from here on: no more duplicates to expect
        return True

    def release(
        self, group: str, recovered: bool, entries: list[Delivery], after: Position
    ) -> list[Delivery]:
        """What to queue once *group*'s history was read: *entries*, then the live messages held."""
        held = self._held.pop(group, [])
        if not recovered:
            return held
        last = parse_position(entries[-1][2]) if entries and entries[-1][2] else after
        self._floors[group] = last
        return [*entries, *(delivery for delivery in held if self.admit(delivery))]

    def forget(self, group: str) -> None:
        self._held.pop(group, None)
        self._floors.pop(group, None)
