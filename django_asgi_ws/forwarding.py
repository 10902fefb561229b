"""Group messages sent on to the client as they are, the default of views and of ``listen``.

What ``WebSocketView.on_group_message`` does unless overridden, and what
``broadcast.listen(..., forward=True)`` does for a function view: bytes go out
as a binary message, anything else as JSON text, a gap or presence event as a
JSON object. Because the outcome does not depend on the view, a message can be
written in the publisher's turn while the view waits (:func:`sender_while_idle`)
instead of waking the view's task for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django_asgi_ws import frames
from django_asgi_ws.broadcast.membership import Message
from django_asgi_ws.status import CONNECTED

if TYPE_CHECKING:
    from django_asgi_ws.broadcast.listen import ClientAndGroups
    from django_asgi_ws.websocket import WebSocket

__all__ = ["send_message", "sender_while_idle"]


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


def plain_text(message: Message) -> str:
    """The text :func:`send_message` sends for a text group message."""
    return frames.shared_json(message.data)
