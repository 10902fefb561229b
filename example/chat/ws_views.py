"""The websocket of a chat room, spoken through the client protocol.

The page (chat/static/chat/room.js) uses the JavaScript client shipped with
django_asgi_ws, which offers the protocol: the view wraps what it sends in
the protocol's envelopes, and the client reconnects, resumes the room from
its last position and keeps who is present. The page:

- requests the room's last messages (``{"type": "history", "after": <id>}``,
  the reply a list, oldest first) when it arrives, and again whenever the
  client says it must resynchronize (the room's history could not give what
  it missed);
- requests each message it posts (``{"type": "post", "text": ..., "client_id":
  <a UUID of its choosing>}``, the reply the stored message); a message posted
  again after a reconnect is stored once;
- sends ``{"type": "typing"}`` messages while its user types.

It receives the room's messages (with their positions, which the client keeps)
and the typing notices of the others as messages of the room's two groups,
and who is online as the presence of the room's group.

A connection without a logged-in user is closed with LOGIN_REQUIRED, one to a
room that does not exist with NO_SUCH_ROOM: the client hears these codes (a
browser shows a refused handshake as 1006, the same as a server that is down)
and stops reconnecting.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from django_asgi_ws import WebSocket, broadcast
from django_asgi_ws.broadcast import Message as GroupMessage
from django_asgi_ws.decorators import login_required
from django_asgi_ws.exceptions import RequestError
from django_asgi_ws.views import WebSocketView

from .models import MESSAGE_MAX_LENGTH, Message, Room

# Close codes of this application, in the range 4000-4999 left to applications.
LOGIN_REQUIRED = 4401
NO_SUCH_ROOM = 4404

HISTORY_SIZE = 50
# The least time between two typing notices of a connection that are passed on.
TYPING_INTERVAL = 1.0


@login_required(close_code=LOGIN_REQUIRED, reason="Log in to chat.")
class ChatRoom(WebSocketView):
    client_protocol = True
    presence_events = True

    user: Any
    room: Room
    last_typing = 0.0

    async def on_connect(self, websocket: WebSocket) -> None:
        self.user = await websocket.auser()  # logged in: login_required saw to it
        room = await Room.objects.filter(slug=self.kwargs["slug"]).afirst()
        if room is None:
            await websocket.close(NO_SUCH_ROOM, "No such room.")
            return
        self.room = room
        # Joins the groups, from the positions the client gave back (?since=).
        await websocket.accept()

    async def get_groups(self) -> Sequence[str]:
        return [self.room.group, self.room.typing_group]

    async def get_presence(self, group: str) -> tuple[str, Any] | None:
        return (self.user.get_username(), None) if group == self.room.group else None

    async def on_request(self, websocket: WebSocket, data: Any) -> Any:
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "history":
            return await self.history(data.get("after"))
        if kind == "post":
            return await self.post(data)
        raise RequestError("unknown", f"Unknown request {kind!r}.")

    async def history(self, after: Any) -> list[dict[str, Any]]:
        """The last messages of the room, oldest first; only newer ones than *after* (an id)."""
        messages = Message.objects.filter(room=self.room).select_related("author")
        if re.fullmatch(r"[0-9]{1,18}", str(after)):  # an id (anything else: a first visit)
            messages = messages.filter(id__gt=int(after))
        latest = [message async for message in messages.order_by("-id")[:HISTORY_SIZE]]
        return [message.as_json() for message in reversed(latest)]

    async def post(self, data: dict[str, Any]) -> dict[str, Any]:
        text = data.get("text")
        text = text.strip() if isinstance(text, str) else ""
        if not 0 < len(text) <= MESSAGE_MAX_LENGTH:
            raise RequestError("invalid", f"A message is 1 to {MESSAGE_MAX_LENGTH} characters.")
        try:
            client_id = uuid.UUID(str(data.get("client_id")))
        except ValueError:
            raise RequestError("invalid", "client_id must be a UUID.") from None
        message, created = await Message.objects.aget_or_create(
            author=self.user, client_id=client_id, defaults={"room": self.room, "text": text}
        )
        if message.room_id != self.room.pk:
            raise RequestError("invalid", "client_id was used in another room.")
        message.author = self.user
        if created:
            await broadcast.publish(self.room.group, message.as_json())
        # Posted again after a reconnect: already stored and sent to the room,
        # so only the reply tells the page.
        return message.as_json()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        if isinstance(data, dict) and data.get("type") == "typing":
            now = time.monotonic()
            if now - self.last_typing >= TYPING_INTERVAL:
                self.last_typing = now
                await broadcast.publish(
                    self.room.typing_group, {"type": "typing", "user": self.user.get_username()}
                )

    async def on_group_message(self, websocket: WebSocket, message: GroupMessage) -> None:
        if message.group == self.room.typing_group and message.event == "message":
            if message.data.get("user") == self.user.get_username():
                return  # nobody needs to see themselves typing
        await super().on_group_message(websocket, message)
