"""Who joined which group in this process, and how a subscription and its backend talk.

A subscription asks its backend through :class:`GroupRegistry`; the backend
hands messages to a subscription through :class:`Subscriber`. Neither side
touches the other's attributes, and the subscription module needs nothing of
the backend's module: imports go one way, from the backend to the subscription.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, Protocol

from django_asgi_ws.broadcast.history import Position

#: What a delivery is: a message published to the group, a marker that the
#: messages since the last one delivered could not be recovered, or a
#: presence event (someone was tracked in the group, or no longer is).
Event = Literal["message", "gap", "join", "leave"]


class Message(NamedTuple):
    """A message as received, with the group it was published to and its position.

    One object per message and process: the backend makes it once, and every
    subscription of the process receives that very object (a fan-out then
    allocates nothing per subscriber). Like the data it holds, it is read-only.
    """

    #: The group the message was published to.
    group: str
    #: The message: ``bytes``, or the value decoded from JSON; ``None`` for a gap.
    data: Any
    #: The message's position in the group's history (``None`` for a group
    #: without history); for a gap, the position that delivery resumes after.
    position: str | None = None
    #: ``"message"`` for a published message; ``"gap"`` for the marker saying
    #: that messages published before this point were lost (see
    #: :doc:`delivery`): whoever needs them must resynchronize; ``"join"`` or
    #: ``"leave"`` for a presence event (``data`` is ``{"key": ..., "meta": ...}``).
    event: Event = "message"


#: What a backend hands a subscription: the Message itself.
Delivery = Message


class Subscriber(Protocol):
    """What a backend needs of a subscription."""

    @property
    def queue_size(self) -> int:
        """The most messages the subscriber queues, for the log of dropped messages."""
        ...

    @property
    def dropped(self) -> int:
        """How many messages the subscriber dropped so far."""
        ...

    @property
    def presence_events(self) -> bool:
        """Whether the subscriber receives the groups' join and leave events."""
        ...

    def put(self, delivery: Delivery) -> None:
        """Queue one message of a group the subscriber joined."""
        ...

    def backend_closed(self) -> None:
        """The backend closed: end the iteration, without calling the backend back."""
        ...


class GroupRegistry(Protocol):
    """What a subscription needs of its backend: membership of groups, and a drop counter."""

    async def register(self, subscriber: Subscriber, group: str) -> None:
        """Make *subscriber* a member of *group*; return once its messages reach the process."""
        ...

    def unregister(self, subscriber: Subscriber, group: str) -> None:
        """Remove *subscriber* from *group*; nothing if it is not a member."""
        ...

    def is_registered(self, subscriber: Subscriber, group: str) -> bool:
        """Whether *subscriber* is a member of *group*."""
        ...

    def forget(self, subscriber: Subscriber) -> None:
        """*subscriber* closed: closing the backend no longer needs to end it."""
        ...

    def report_dropped(self, subscriber: Subscriber, count: int) -> None:
        """*subscriber* dropped *count* messages because its queue was full."""
        ...

    async def track(self, group: str, key: str, meta: Any = None) -> str:
        """Add an entry for *key* to *group*'s presence; its id."""
        ...

    async def untrack(self, entry: str) -> None:
        """Remove a presence entry that ``track`` returned."""
        ...

    async def recover(self, group: str, after: Position) -> tuple[bool, list[Delivery]]:
        """*group*'s messages after *after* from its history, and whether they are all there.

        Nothing when they are not all there: the caller resynchronizes instead.
        """
        ...


class LocalGroups:
    """The groups joined in this process, each with its members.

    Also every subscriber that ever joined a group and was not forgotten since,
    so that :meth:`end_all` reaches one that has left all its groups too.
    """

    def __init__(self) -> None:
        self._members: dict[str, set[Subscriber]] = {}
        self._subscribers: set[Subscriber] = set()

    @property
    def names(self) -> frozenset[str]:
        """The groups with at least one member."""
        return frozenset(self._members)

    def members(self, group: str) -> list[Subscriber]:
        """A snapshot of *group*'s members (empty if it has none)."""
        members = self._members.get(group)
        return list(members) if members else []

    def add(self, subscriber: Subscriber, group: str) -> bool:
        """Add *subscriber* to *group*; True if the group had no member before."""
        self._subscribers.add(subscriber)
        members = self._members.get(group)
        if members is None:
            self._members[group] = {subscriber}
            return True
        members.add(subscriber)
        return False

    def remove(self, subscriber: Subscriber, group: str) -> bool:
        """Remove *subscriber* from *group*; True if it was the group's last member."""
        members = self._members.get(group)
        if members is None or subscriber not in members:
            return False
        members.discard(subscriber)
        if members:
            return False
        del self._members[group]
        return True

    def has(self, subscriber: Subscriber, group: str) -> bool:
        return subscriber in self._members.get(group, ())

    def forget(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def end_all(self) -> None:
        """Tell every subscriber that the backend closed, then forget them all."""
        for subscriber in list(self._subscribers):
            subscriber.backend_closed()
        self.clear()

    def clear(self) -> None:
        self._members.clear()
        self._subscribers.clear()
