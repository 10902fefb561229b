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
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from django_asgi_ws.broadcast.subscription import Subscription

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

    def _client_read_done(self, client: asyncio.Future[Any]) -> None:
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
        return client.result()

    async def aclose(self) -> None:
        """Cancel the pending read of the client; nothing read is lost (it was never taken)."""
        future, self._client = self._client, None
        if future is None:
            return
        if not future.done():
            future.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await future
        elif not future.cancelled():
            future.exception()  # retrieved: no "never retrieved" warning


async def listen(websocket: WebSocket, subscription: Subscription) -> AsyncIterator[Any]:
    """Messages from the client (``str`` or ``bytes``) and from the groups (:class:`Message`).

    For function views::

        async with broadcast.subscribe(f"room-{room}") as subscription:
            async for event in broadcast.listen(websocket, subscription):
                if isinstance(event, broadcast.Message):
                    await websocket.send_json(event.data)
                else:
                    await broadcast.publish(f"room-{room}", {"text": event})

    The iteration ends when the client disconnects. Nothing is lost when one
    side wins: the other side's read stays pending for the next round.
    """
    # Imported here, where a websocket exists: the broadcast package itself
    # loads without the websocket layer.
    from django_asgi_ws.exceptions import WebSocketDisconnect

    events = ClientAndGroups(websocket.receive, subscription)
    try:
        while True:
            yield await events.next()
    except WebSocketDisconnect:
        return
    finally:
        await events.aclose()
