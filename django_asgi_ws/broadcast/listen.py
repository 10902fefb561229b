"""Wait for the client and for group messages at once.

A view that loops on ``websocket.receive()`` cannot push a group message
until the client speaks; one that loops on the subscription cannot hear the
client. These helpers keep one pending receive on each side and hand over
whichever completes first, so neither blocks the other and all sends stay in
the view's own task (no concurrent sends to one socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from django_asgi_ws.broadcast.subscription import Message, SubscriberTooSlow, Subscription

if TYPE_CHECKING:
    from django_asgi_ws.websocket import WebSocket

__all__ = ["ClientAndGroups", "listen"]


class ClientAndGroups:
    """The next event from either side: a client message or a group :class:`Message`.

    ``receive_client`` is what reads the client (``websocket.receive`` or a
    decoding variant). Neither side loses anything when the other wins: a
    pending read stays pending for the next call. Call :meth:`aclose` at the end.
    """

    def __init__(
        self, receive_client: Callable[[], Awaitable[Any]], subscription: Subscription
    ) -> None:
        self._receive_client = receive_client
        self.subscription = subscription
        self._client: asyncio.Future[Any] | None = None
        #: Whether the reader waits in :meth:`next` with nothing left to hand
        #: over: a message arriving now would be the next thing it handles.
        self.idle = False
        # What next() awaits while both sides are quiet: the subscription's ready
        # future, which the client's read also completes when it ends first.
        self._waiter: asyncio.Future[None] | None = None
        # A group message's handling begun in the publisher's turn that did not
        # finish cleanly there (see hand_over): next() finishes it first.
        self._handed_over: asyncio.Future[Any] | None = None

    def hand_over(self, handling: asyncio.Future[Any]) -> None:
        """Have the reader finish *handling* before anything else, raising what it raised.

        For a group message handled while the reader was idle, in a task of its
        own begun in the publisher's turn, that suspended or failed: the reader
        awaits it in :meth:`next`, so messages are still handled one at a
        time, in order, and its exception ends the reader as if raised there.
        """
        self._handed_over = handling
        self.idle = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _client_read_done(self, client: asyncio.Future[Any]) -> None:
        self.idle = False  # the client's message comes first
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self) -> Any:
        """The next client message (as ``receive_client`` returns it) or group Message.

        Raises what the client side raises (WebSocketDisconnect at the end) and
        what the subscription raises (SubscriberTooSlow).
        """
        # One pending read of the client, kept across calls; the group side is
        # read without waiting, and waited for through the subscription's ready
        # future, which the client's read completes too: a group message costs
        # no task, no wait set and no callback of its own.
        client = self._client
        if client is None:
            client = self._client = asyncio.ensure_future(self._receive_client())
            client.add_done_callback(self._client_read_done)
        while not client.done():
            if self._handed_over is not None:
                await self._finish_handed_over()
                continue
            message = self.subscription.get_message_nowait()
            if message is not None:
                return message
            waiter = self._waiter = self.subscription.ready()
            self.idle = True
            try:
                await waiter
            finally:
                self.idle = False
                self._waiter = None
        self._client = None
        if self._handed_over is not None:
            await self._finish_handed_over()
        return client.result()

    async def _finish_handed_over(self) -> None:
        handling = self._handed_over
        assert handling is not None
        try:
            await handling
        finally:
            self._handed_over = None

    async def aclose(self) -> None:
        """Cancel the pending read of the client; nothing read is lost (it was never taken).

        A handed-over handling still running is cancelled too.
        """
        handling, self._handed_over = self._handed_over, None
        if handling is not None and not handling.done():
            handling.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await handling
        future, self._client = self._client, None
        if future is None:
            return
        if not future.done():
            future.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await future
        elif not future.cancelled():
            future.exception()  # retrieved: no "never retrieved" warning


async def listen(
    websocket: WebSocket, subscription: Subscription, *, forward: bool = False
) -> AsyncIterator[Any]:
    """Messages from the client (``str`` or ``bytes``) and from the groups (:class:`Message`).

    For function views::

        async with broadcast.subscribe(f"room-{room}") as subscription:
            async for event in broadcast.listen(websocket, subscription):
                if isinstance(event, broadcast.Message):
                    await websocket.send_json(event.data)
                else:
                    await broadcast.publish(f"room-{room}", {"text": event})

    With *forward*, the groups' messages go straight to the client, as a
    ``WebSocketView`` sends them by default (JSON text, bytes as binary, a gap
    or presence event as a JSON object), and only the client's messages are
    yielded. While the loop waits, a text message is then written in the
    publisher's turn, which wakes nothing: the fastest way to relay a group.

    The iteration ends when the client disconnects. Nothing is lost when one
    side wins: the other side's read stays pending for the next round.
    """
    # Imported here, where a websocket exists: the broadcast package itself
    # loads without the websocket layer.
    from django_asgi_ws import forwarding
    from django_asgi_ws.exceptions import WebSocketDisconnect

    events = ClientAndGroups(websocket.receive, subscription)
    if forward:
        subscription.set_direct(
            forwarding.sender_while_idle(websocket, events, forwarding.plain_text)
            or forwarding.handler_while_idle(
                websocket, events, functools.partial(forwarding.send_message, websocket)
            )
        )
    subscription.set_overflow_handler(forwarding.close_when_stalled(websocket))
    try:
        while True:
            event = await events.next()
            if forward and type(event) is Message:
                await forwarding.send_message(websocket, event)
            else:
                yield event
    except WebSocketDisconnect:
        if subscription.overflowed:  # closed with 1013 while a send waited
            raise SubscriberTooSlow(subscription.queue_size) from None
        return
    finally:
        if forward:
            subscription.set_direct(None)
        subscription.set_overflow_handler(None)
        await events.aclose()
