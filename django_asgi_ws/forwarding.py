"""Group messages sent on to the client as they are, the default of views and of ``listen``.

What ``WebSocketView.on_group_message`` does unless overridden, and what
``broadcast.listen(..., forward=True)`` does for a function view: bytes go out
as a binary message, anything else as JSON text, a gap or presence event as a
JSON object. Because the outcome does not depend on the view, a message can be
written in the publisher's turn while the view waits (:func:`sender_while_idle`)
instead of waking the view's task for it; on Python 3.12 and later, so can a
view's own handler (:func:`handler_while_idle`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from django_asgi_ws import frames
from django_asgi_ws.broadcast.errors import SubscriberTooSlow
from django_asgi_ws.broadcast.membership import Message
from django_asgi_ws.status import CONNECTED

if TYPE_CHECKING:
    from django_asgi_ws.broadcast.listen import ClientAndGroups
    from django_asgi_ws.websocket import WebSocket

__all__ = ["close_when_stalled", "handler_while_idle", "send_message", "sender_while_idle"]


async def send_message(websocket: WebSocket, message: Message) -> None:
    """Send a group *message* to a client that does not speak the client protocol."""
    if message.event == "gap":
        gap = {"event": "gap", "group": message.group, "position": message.position}
        await websocket.send_json(gap)
    elif message.event != "message":  # join or leave
        await websocket.send_json({"event": message.event, "group": message.group, **message.data})
    elif isinstance(message.data, bytes):
        await websocket.send_bytes(message.data)
    else:
        await websocket.send_text(frames.shared_json(message.data))


def sender_while_idle(
    websocket: WebSocket, events: ClientAndGroups, text_of: Callable[[Message], str]
) -> Callable[[Message], bool] | None:
    """A ``Subscription.set_direct`` reader that writes a text message's frame at once.

    While the reader of *events* waits with nothing queued, a group message
    whose text is ``text_of(message)`` is written to the socket in the
    publisher's turn, where the server lets us write prepared frames (see
    ``frames``): the reader's task is not woken for it. Anything else (bytes,
    presence, a gap, a busy reader, a socket whose buffer is full) is queued
    as usual. None where the server writes no prepared frames.
    """
    write = websocket._write_frame
    if write is None:
        return None

    def send_now(message: Message) -> bool:
        if (
            not events.idle
            or message.event != "message"
            or isinstance(message.data, bytes)
            or websocket.state is not CONNECTED
        ):
            return False
        return write(frames.text_frame(text_of(message)))

    return send_now


def handler_while_idle(
    websocket: WebSocket,
    events: ClientAndGroups,
    handle: Callable[[Message], Coroutine[Any, Any, None]],
) -> Callable[[Message], bool] | None:
    """A ``Subscription.set_direct`` reader that begins ``handle(message)`` at once.

    While the reader of *events* waits with nothing queued, the handler runs
    in the publisher's turn, in an eager task (Python 3.12 and later) in the
    reader's own context: one that finishes without waiting (a send the
    socket takes at once) costs no wake of the reader's task. One that waits
    or fails is handed over to the reader (``ClientAndGroups.hand_over``),
    which finishes it before anything else: messages are still handled one
    at a time and in order, and an exception ends the reader as if raised
    there. Call it from the reader's task. None on older Pythons: every
    message is then queued for the reader.
    """
    # Both came in Python 3.12.
    eager: Callable[..., asyncio.Future[Any]] | None = getattr(asyncio, "eager_task_factory", None)
    task = asyncio.current_task()
    get_context: Callable[[], Any] | None = getattr(task, "get_context", None)
    if eager is None or get_context is None:
        return None
    assert task is not None
    loop, context = task.get_loop(), get_context()
    running = False

    def handle_now(message: Message) -> bool:
        nonlocal running
        if running or not events.idle or websocket.state is not CONNECTED:
            return False  # busy (a handler publishing to its own group), or closing
        try:
            # A publisher running in the reader's very context (a task created
            # with it) has it entered: an eager task could not enter it, and
            # would leave the loop's current task wrong (Python 3.12, 3.13).
            context.run(int)
        except RuntimeError:
            return False
        running = True
        try:
            handling = eager(loop, handle(message), context=context)
        finally:
            running = False
        if not handling.done() or handling.cancelled() or handling.exception() is not None:
            events.hand_over(handling)
        return True

    return handle_now


def close_when_stalled(websocket: WebSocket) -> Callable[[], object] | None:
    """A ``Subscription.set_overflow_handler`` handler that closes the connection with
    1013 at once if its client stopped reading.

    A view sending to such a client waits for the socket's buffer to drain, and
    an overflow under ``OVERFLOW = "close"`` only raises at the view's next
    read, which that send holds back for as long as the client reads nothing.
    The server closes it instead (see ``frames``): the view's send then raises
    once the connection is gone, within ``WEBSOCKET_CLOSE_TIMEOUT``. A client
    merely behind, whose socket still takes data, gets the usual next-read
    close. None where the server offers no such close.
    """
    prepared = (websocket.scope.get("extensions") or {}).get(frames.EXTENSION) or {}
    close_stalled: Callable[[int, str], bool] | None = prepared.get("close_stalled")
    if close_stalled is None:
        return None
    return functools.partial(close_stalled, SubscriberTooSlow.code, SubscriberTooSlow.reason)


def plain_text(message: Message) -> str:
    """The text :func:`send_message` sends for a text group message."""
    return frames.shared_json(message.data)
