"""Class-based websocket views."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import update_wrapper
from typing import Any, ClassVar, Literal, get_args

from django.core.exceptions import ImproperlyConfigured

from django_asgi_ws import broadcast
from django_asgi_ws.broadcast.history import parse_position
from django_asgi_ws.broadcast.listen import ClientAndGroups
from django_asgi_ws.broadcast.subscription import Message, Subscription
from django_asgi_ws.endings import ending_for
from django_asgi_ws.status import CloseCode
from django_asgi_ws.websocket import WebSocket, WebSocketDisconnect, WebSocketState

__all__ = ["WebSocketView"]

EncodingName = Literal["text", "bytes", "json"]
ENCODINGS: tuple[EncodingName | None, ...] = (None, *get_args(EncodingName))


class WebSocketView:
    """A websocket endpoint as a class: one instance per connection.

    ``as_view()`` gives the view function to route to. For each connection,
    :meth:`on_connect` decides on the handshake, every message then goes to
    :meth:`on_receive` (and every message of a joined broadcast group to
    :meth:`on_group_message`), and :meth:`on_disconnect` runs once at the end.
    """

    #: How messages are checked and decoded before :meth:`on_receive` sees
    #: them. ``None``: ``str`` or ``bytes``, as the client sent them.
    #: ``"text"``: text messages only, as ``str``. ``"bytes"``: binary messages
    #: only, as ``bytes``. ``"json"``: text messages decoded from JSON. A message
    #: of the other type closes the connection with 1003, malformed JSON with 1007.
    encoding: ClassVar[EncodingName | None] = None
    #: The broadcast groups joined when the connection is accepted, before the
    #: client learns of it (see :meth:`get_groups`).
    groups: ClassVar[Sequence[str]] = ()
    #: The query parameter in which the client gives the last position it saw
    #: (see :meth:`get_since`).
    since_parameter: ClassVar[str] = "since"
    #: Whether the groups' presence events (join, leave) reach
    #: :meth:`on_group_message`.
    presence_events: ClassVar[bool] = False

    #: The connection, set before :meth:`on_connect` runs.
    websocket: WebSocket
    #: The positional arguments captured from the URL.
    args: tuple[Any, ...]
    #: The keyword arguments captured from the URL.
    kwargs: dict[str, Any]
    #: The :class:`~django_asgi_ws.broadcast.Subscription` of the groups joined;
    #: ``None`` until the first group is joined.
    subscription: Subscription | None = None
    #: Whether the groups joined with the client's last positions recovered
    #: what it missed: ``None`` if it gave none, ``False`` if a group could not
    #: (the client must then resynchronize), or a position was malformed.
    #: Known once ``websocket.accept()`` returned.
    recovered: bool | None = None

    def __init__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            setattr(self, key, value)

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., Awaitable[None]]:
        """The async view function to put in ``WEBSOCKET_URLCONF``.

        Each keyword argument sets an attribute of the instance made for each
        connection; only attributes the class already has can be set
        (TypeError otherwise). An invalid ``encoding`` raises
        ImproperlyConfigured.
        """
        encoding = initkwargs.get("encoding", cls.encoding)
        if encoding not in ENCODINGS:
            raise ImproperlyConfigured(
                f"{cls.__name__}.encoding must be None, 'text', 'bytes' or 'json', "
                f"not {encoding!r}."
            )
        for key in initkwargs:
            if not hasattr(cls, key):
                raise TypeError(
                    f"{cls.__name__}.as_view() received the invalid keyword {key!r}: "
                    "only attributes the class already has can be set."
                )

        async def view(websocket: WebSocket, *args: Any, **kwargs: Any) -> None:
            self = cls(**initkwargs)
            self.websocket, self.args, self.kwargs = websocket, args, kwargs
            await self.dispatch(websocket)

        view.view_class = cls  # type: ignore[attr-defined]
        view.view_initkwargs = initkwargs  # type: ignore[attr-defined]
        update_wrapper(view, cls, updated=())
        return view

    async def dispatch(self, websocket: WebSocket) -> None:
        """Connect, hand each message to ``on_receive``, then ``on_disconnect``.

        The groups of ``get_groups()`` are joined by ``websocket.accept()``,
        before the accept is sent. ``on_disconnect`` runs once for every
        connection that was accepted, however it ended; a refused handshake
        never reaches it.
        """
        close_code: int = CloseCode.NORMAL_CLOSURE
        async with contextlib.AsyncExitStack() as cleanup:
            cleanup.push_async_callback(self._leave_groups)
            # Joined before the client sees the accept: a broker confirms each
            # subscription a moment after it is asked, and whatever the client (or
            # a test) publishes once connected must not fall into that gap.
            websocket.before_accept(self._join_groups)
            try:
                await self.on_connect(websocket)
                if websocket.state is WebSocketState.CONNECTING:
                    return  # neither accepted nor refused: the handler refuses it
                await self._receive_loop(websocket)
            except WebSocketDisconnect as exc:
                close_code = exc.code
            except BaseException as exc:
                close_code = _code_the_client_gets(websocket, exc)
                raise
            finally:
                websocket.before_accept(None)  # never accepted: no cycle left behind
                if websocket.accepted:
                    await self.on_disconnect(websocket, close_code)

    async def _receive_loop(self, websocket: WebSocket) -> None:
        # receive() applies CONN_MAX_AGE and CONN_HEALTH_CHECKS around the wait.
        while self.subscription is None:
            data = await self.receive_message(websocket)
            await self.on_receive(websocket, data)
        # In a group: wait for the client and the groups at once.
        events = ClientAndGroups(lambda: self.receive_message(websocket), self.subscription)
        try:
            while True:
                event = await events.next()
                if isinstance(event, Message):
                    await self.on_group_message(websocket, event)
                else:
                    await self.on_receive(websocket, event)
        finally:
            await events.aclose()

    # Broadcast groups ----------------------------------------------------------

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
        """
        if self.subscription is None:
            subscription = broadcast.subscribe(presence_events=self.presence_events)
            self.subscription = await subscription.__aenter__()
        if since is not None:
            try:
                parse_position(since)
            except ValueError:
                since, self.recovered = None, False
        recovered = await self.subscription.join(group, since=since)
        if recovered is not None:
            self.recovered = recovered and self.recovered is not False

    async def leave(self, group: str) -> None:
        """Stop receiving *group*'s messages, including those not yet handled."""
        if self.subscription is not None:
            await self.subscription.leave(group)

    async def _leave_groups(self) -> None:
        if self.subscription is not None:
            await self.subscription.close()

    async def on_group_message(self, websocket: WebSocket, message: Message) -> None:
        """Called for each message of a joined group; sends it to the client by default.

        Bytes go out as a binary message, anything else as JSON text. A gap
        marker (``message.event == "gap"``, see :doc:`delivery`) goes out as
        ``{"event": "gap", "group": ..., "position": ...}``, a presence event as
        ``{"event": "join", "group": ..., "key": ..., "meta": ...}``. Override it to send
        ``message.position`` along, for a client that comes back with it.
        """
        if message.event == "gap":
            gap = {"event": "gap", "group": message.group, "position": message.position}
            await websocket.send_json(gap)
        elif message.event != "message":  # join or leave
            await websocket.send_json(
                {"event": message.event, "group": message.group, **message.data}
            )
        elif isinstance(message.data, bytes):
            await websocket.send_bytes(message.data)
        else:
            await websocket.send_json(message.data)

    async def receive_message(self, websocket: WebSocket) -> Any:
        """The next message, checked and decoded as ``encoding`` says."""
        if self.encoding == "text":
            return await websocket.receive_text()
        if self.encoding == "bytes":
            return await websocket.receive_bytes()
        if self.encoding == "json":
            return await websocket.receive_json()
        return await websocket.receive()

    async def on_connect(self, websocket: WebSocket) -> None:
        """Called once the handshake arrives; accepts it unless overridden.

        Override it to check the request, choose a subprotocol, or refuse the
        connection: returning without accepting refuses it.
        """
        await websocket.accept()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        """Called for every message, decoded as ``encoding`` says; does nothing by default."""

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        """Called once an accepted connection is over, whoever closed it, with the close code.

        Does nothing by default. Never called for a refused handshake.
        """


def _code_the_client_gets(websocket: WebSocket, exc: BaseException) -> int:
    """The close code the handler sends for *exc*, or the one already exchanged.

    A view cancelled from outside (a server stopping) is reported as 1001,
    unless a close was already sent or received.
    """
    if websocket.close_code is not None:
        return websocket.close_code
    ending = ending_for(exc, handshake_timed_out=websocket.handshake_timed_out)
    return CloseCode.GOING_AWAY if ending is None else ending.code
