"""The websocket of a chat room.

The page speaks JSON. It sends::

    {"type": "message", "text": "hello", "client_id": "<a UUID of its choosing>"}
    {"type": "typing"}

and receives, first the history, then who is online, then what happens in
the room::

    {"type": "history", "messages": [<message>, ...], "recovered": false}  # oldest first
    {"type": "online", "users": ["alice", "bob"]}       # again whenever it changes
    {"type": "message", "id": 7, "author": "alice", "text": "hello",
     "created": "2025-01-01T12:00:00+00:00", "client_id": "...", "position": "..."}
    {"type": "typing", "user": "bob"}
    {"type": "resync"}
    {"type": "error", "error": "..."}

The room's group keeps a history (WEBSOCKET_BROADCAST["HISTORY"]): a page
that comes back gives the position of the last message it received
(``?since=``), and receives what it missed as ordinary messages, after a
``history`` with no messages and ``"recovered": true``. When the history
cannot give it all (too old, or the server restarted), the ``history`` holds
the messages stored after ``?after=`` (the last id the page has) instead. A
``resync`` says that messages were lost while the connection stood: the
page reconnects, without its position.

A connection without a logged-in user is accepted and closed at once with
LOGIN_REQUIRED, one to a room that does not exist with NO_SUCH_ROOM: a
browser shows a refused handshake as code 1006, the same as a server that is
down, while these codes and their reasons reach the page.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from django_asgi_ws import WebSocket, broadcast
from django_asgi_ws.broadcast import Message as GroupMessage
from django_asgi_ws.decorators import login_required
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
    encoding = "json"
    presence_events = True

    user: Any
    room: Room
    last_typing = 0.0

    async def on_connect(self, websocket: WebSocket) -> None:
        user = await websocket.auser()  # logged in: login_required saw to it
        # Accept before refusing, so that the page learns why (see above).
        await websocket.accept()
        room = await Room.objects.filter(slug=self.kwargs["slug"]).afirst()
        if room is None:
            await websocket.close(NO_SUCH_ROOM, "No such room.")
            return
        self.user, self.room = user, room
        # Join before reading the history: a message stored meanwhile is then
        # in the history, or in the group, or in both (the page keeps one copy
        # by id), but never lost in between.
        await self.join(room.group, since=websocket.GET.get("since") or None)
        await self.join(room.typing_group)
        assert self.subscription is not None
        await self.subscription.track(room.group, user.get_username())
        if self.recovered:
            # What the page missed follows, from the group's history.
            await websocket.send_json({"type": "history", "messages": [], "recovered": True})
        else:
            messages = await self.history(websocket)
            await websocket.send_json({"type": "history", "messages": messages, "recovered": False})
        await self.send_online(websocket)

    async def history(self, websocket: WebSocket) -> list[dict[str, Any]]:
        """The last messages of the room, oldest first; only newer ones than ``?after=``."""
        messages = Message.objects.filter(room=self.room).select_related("author")
        after = websocket.GET.get("after", "")
        if re.fullmatch(r"[0-9]{1,18}", after):  # an id (anything else: a first visit)
            messages = messages.filter(id__gt=int(after))
        latest = [message async for message in messages.order_by("-id")[:HISTORY_SIZE]]
        return [message.as_json() for message in reversed(latest)]

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "message":
            await self.post(websocket, data)
        elif kind == "typing":
            now = time.monotonic()
            if now - self.last_typing >= TYPING_INTERVAL:
                self.last_typing = now
                await broadcast.publish(
                    self.room.typing_group, {"type": "typing", "user": self.user.get_username()}
                )
        else:
            await websocket.send_json({"type": "error", "error": f"Unknown message {kind!r}."})

    async def post(self, websocket: WebSocket, data: dict[str, Any]) -> None:
        text = data.get("text")
        text = text.strip() if isinstance(text, str) else ""
        if not 0 < len(text) <= MESSAGE_MAX_LENGTH:
            error = f"A message is 1 to {MESSAGE_MAX_LENGTH} characters."
            await websocket.send_json({"type": "error", "error": error})
            return
        try:
            client_id = uuid.UUID(str(data.get("client_id")))
        except ValueError:
            await websocket.send_json({"type": "error", "error": "client_id must be a UUID."})
            return
        message, created = await Message.objects.aget_or_create(
            author=self.user, client_id=client_id, defaults={"room": self.room, "text": text}
        )
        if created:
            await broadcast.publish(self.room.group, message.as_json())
        elif message.room_id == self.room.pk:
            # Sent again after a reconnect: already stored (and sent to the
            # room), so only this page needs to hear of it.
            message.author = self.user
            await websocket.send_json(message.as_json())

    async def send_online(self, websocket: WebSocket) -> None:
        online = await broadcast.presence(self.room.group)
        await websocket.send_json({"type": "online", "users": sorted(online)})

    async def on_group_message(self, websocket: WebSocket, message: GroupMessage) -> None:
        if message.event == "gap":
            await websocket.send_json({"type": "resync"})
        elif message.event in ("join", "leave"):
            await self.send_online(websocket)
        elif message.position is not None:  # a chat message, from the room's history
            await websocket.send_json({**message.data, "position": message.position})
        elif message.data.get("user") != self.user.get_username():
            await websocket.send_json(message.data)  # nobody needs to see themselves typing
