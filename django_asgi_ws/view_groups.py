"""The broadcast groups of a ``WebSocketView``: which it joins, from where, and who is present.

A mixin of :class:`~django_asgi_ws.views.WebSocketView`, kept apart so that
each module has one job; its methods are documented as the view's.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from django_asgi_ws import broadcast, forwarding
from django_asgi_ws import client_protocol as protocol
from django_asgi_ws.broadcast.errors import BroadcastError
from django_asgi_ws.broadcast.history import parse_position
from django_asgi_ws.broadcast.listen import ClientAndGroups
from django_asgi_ws.broadcast.subscription import Message, Subscription
from django_asgi_ws.websocket import WebSocket

__all__ = ["GroupsMixin"]


class GroupsMixin:
    """Joining, leaving and hearing broadcast groups, for :class:`WebSocketView`."""

    #: The broadcast groups joined when the connection is accepted, before the
    #: client learns of it (see :meth:`get_groups`).
    groups: ClassVar[Sequence[str]] = ()
    #: The query parameter in which the client gives the last position it saw
    #: (see :meth:`get_since`).
    since_parameter: ClassVar[str] = "since"
    #: Whether the groups' presence events (join, leave) reach
    #: :meth:`on_group_message`.
    presence_events: ClassVar[bool] = False

    websocket: WebSocket
    kwargs: dict[str, Any]
    #: The :class:`~django_asgi_ws.broadcast.Subscription` of the groups joined;
    #: ``None`` until the first group is joined.
    subscription: Subscription | None = None
    #: Whether the groups joined with the client's last positions recovered
    #: what it missed: ``None`` if it gave none, ``False`` if a group could not
    #: (the client must then resynchronize), or a position was malformed.
    #: Known once ``websocket.accept()`` returned.
    recovered: bool | None = None
    # The client protocol's welcome, until it is sent (see views.WebSocketView).
    _welcome: protocol.Welcome | None = None

    @property
    def speaks_protocol(self) -> bool:
        raise NotImplementedError

    async def send_frame(self, frame: str) -> None:
        raise NotImplementedError

    async def get_groups(self) -> Sequence[str]:
        """The groups to join on accepting; ``groups`` unless overridden.

        Override it to name groups after the URL or the user, e.g.
        ``return [f"room-{self.kwargs['room']}"]``. It runs when ``on_connect``
        calls ``websocket.accept()``, so it sees the attributes ``on_connect``
        set before that call, and the groups are joined before the client
        hears of the accept. If it or a join raises, the handshake is refused
        as when ``on_connect`` raises.
        """
        return self.groups

    async def get_since(self, groups: Sequence[str]) -> Mapping[str, str]:
        """The last position the client saw in each of *groups*, to recover from.

        By default, from the ``since`` query parameter (:attr:`since_parameter`):
        ``?since=<position>`` for the first group, or ``?since=<group>:<position>``,
        once per group. Override it to read them elsewhere (a cookie, the session).
        """
        since: dict[str, str] = {}
        for value in self.websocket.GET.getlist(self.since_parameter):
            if not value:
                continue  # no position yet: a first visit
            group, _, position = value.rpartition(":")
            if not group and groups:
                group = groups[0]
            since.setdefault(group, position)
        return since

    async def _join_groups(self) -> None:
        groups = await self.get_groups()
        since = await self.get_since(groups)
        for group in groups:
            await self.join(group, since=since.get(group))
            present = await self.get_presence(group)
            if present is not None and self.subscription is not None:
                await self.subscription.track(group, *present)

    async def get_presence(self, group: str) -> tuple[str, Any] | None:
        """The key and meta this connection is present under in *group*; None by default.

        Called for each group of :meth:`get_groups` once joined. Override it
        to list who is connected, e.g. ``return str(self.websocket.user.pk),
        {"name": self.websocket.user.get_username()}``; ``broadcast.presence(group)``
        then lists the connection until it ends.
        """
        return None

    async def join(self, group: str, since: str | None = None) -> None:
        """Receive *group*'s messages in ``on_group_message`` from now on.

        With *since*, a position of *group*, first those its history holds
        after it (see :attr:`recovered`); a malformed one recovers nothing.
        A client that speaks the client protocol hears of the join (a
        ``joined`` frame, with the position to resume from).
        """
        if self.subscription is None:
            subscription = broadcast.subscribe(presence_events=self.presence_events)
            self.subscription = await subscription.__aenter__()
        if since is not None:
            try:
                parse_position(since)
            except ValueError:
                since, self.recovered = None, False
        if not self.speaks_protocol:
            recovered = await self.subscription.join(group, since=since)
        else:
            recovered = await self._join_resumable(group, since)
        if recovered is not None:
            self.recovered = recovered and self.recovered is not False

    async def _join_resumable(self, group: str, since: str | None) -> bool | None:
        """Join *group* so that the client can always resume, and send it the ``joined`` frame.

        Without a position from the client, the group is joined from its
        history's last position, read first: whatever is published meanwhile
        is delivered, and that position is where the client resumes from if
        the connection drops before the group's next message.
        """
        assert self.subscription is not None
        start: str | None = None
        if group not in self.subscription.groups:
            try:
                start = await broadcast.position(group)
            except BroadcastError:
                start = None  # the join below reports the broker's failure
        recovered = await self.subscription.join(group, since=since or start)
        members = await broadcast.presence_entries(group) if self.presence_events else None
        given = None if since is None else recovered
        resume = since if given else start
        if self._welcome is not None:
            self._welcome.joined(group, resume, members)
        else:
            await self.send_frame(protocol.joined_frame(group, resume, given, members))
        return given

    async def leave(self, group: str) -> None:
        """Stop receiving *group*'s messages, including those not yet handled."""
        if self.subscription is not None and group in self.subscription.groups:
            await self.subscription.leave(group)
            if self._welcome is not None:
                self._welcome.left(group)
            elif self.speaks_protocol:
                await self.send_frame(protocol.left_frame(group))

    async def _leave_groups(self) -> None:
        if self.subscription is not None:
            await self.subscription.close()

    def _sender_while_idle(self, events: ClientAndGroups) -> Callable[[Message], bool] | None:
        """What the default :meth:`on_group_message` does, done in the publisher's turn.

        See ``forwarding.sender_while_idle``: the view's task is not woken for
        a text message while it waits with nothing queued.
        """
        text_of = protocol.group_frame if self.speaks_protocol else forwarding.plain_text
        return forwarding.sender_while_idle(self.websocket, events, text_of)

    def _handler_while_idle(self, events: ClientAndGroups) -> Callable[[Message], bool] | None:
        """:meth:`on_group_message` begun in the publisher's turn, where it can be.

        See ``forwarding.handler_while_idle``: on Python 3.12 and later, a
        handler that finishes without waiting costs no wake of the view's task.
        """
        handler, websocket = self.on_group_message, self.websocket
        if not inspect.iscoroutinefunction(handler):
            return None
        return forwarding.handler_while_idle(
            websocket, events, functools.partial(handler, websocket)
        )

    async def on_group_message(self, websocket: WebSocket, message: Message) -> None:
        """Called for each message of a joined group; sends it to the client by default.

        Bytes go out as a binary message, anything else as JSON text. A gap
        marker (``message.event == "gap"``, see :doc:`delivery`) goes out as
        ``{"event": "gap", "group": ..., "position": ...}``, a presence event as
        ``{"event": "join", "group": ..., "entry": ..., "key": ..., "meta": ...}``.
        Override it to send ``message.position`` along, for a client that comes
        back with it. A client that speaks the client protocol gets the frames
        of :doc:`wire-protocol` instead, positions included.
        """
        if self.speaks_protocol:
            await self.send_frame(protocol.group_frame(message))
        else:
            await forwarding.send_message(websocket, message)
