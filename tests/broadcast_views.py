"""Websocket views that use broadcast groups, for the view-integration tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse

from django_asgi_ws import WebSocket, broadcast
from django_asgi_ws.broadcast import Message
from django_asgi_ws.views import WebSocketView


class Room(WebSocketView):
    """A chat room: what a client sends goes to everybody in the room, itself included."""

    encoding = "json"

    async def get_groups(self) -> Sequence[str]:
        return [f"room-{self.kwargs['room']}"]

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        if "join" in data:
            await self.join(f"room-{data['join']}")
            await websocket.send_json({"joined": data["join"]})
        elif "leave" in data:
            await self.leave(f"room-{data['leave']}")
            await websocket.send_json({"left": data["leave"]})
        else:
            await broadcast.publish(f"room-{self.kwargs['room']}", data)


class ProtocolRoom(WebSocketView):
    """A room that speaks the client protocol: messages go to the room, "who" is a request."""

    client_protocol = True
    presence_events = True

    async def get_groups(self) -> Sequence[str]:
        return [f"room-{self.kwargs['room']}"]

    async def get_presence(self, group: str) -> tuple[str, Any] | None:
        return self.websocket.GET.get("user", "anonymous"), None

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await broadcast.publish(f"room-{self.kwargs['room']}", data)

    async def on_request(self, websocket: WebSocket, data: Any) -> Any:
        return sorted(await broadcast.presence(f"room-{self.kwargs['room']}"))


class Lobby(WebSocketView):
    """Static groups, and a custom on_group_message."""

    groups = ("lobby", "announcements")

    async def on_group_message(self, websocket: WebSocket, message: Message) -> None:
        await websocket.send_json({"group": message.group, "data": message.data})


class Quiet(WebSocketView):
    """No groups until the client asks: the plain receive loop until then."""

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await self.join(str(data))
        await websocket.send_text(f"joined {data}")


class Inbox(WebSocketView):
    """Groups named after what ``on_connect`` found before accepting; refused without it."""

    owner: str

    async def on_connect(self, websocket: WebSocket) -> None:
        owner = websocket.GET.get("owner")
        if owner is None:
            await websocket.close()
            return
        self.owner = owner
        await websocket.accept()

    async def get_groups(self) -> Sequence[str]:
        return [f"inbox:{self.owner}"]


class SlowReader(WebSocketView):
    """Handles group messages slower than they arrive."""

    groups = ("firehose",)

    async def on_group_message(self, websocket: WebSocket, message: Message) -> None:
        await asyncio.sleep(0.01)
        await websocket.send_json(message.data)


async def room_function(websocket: WebSocket, room: str) -> None:
    """The function-view idiom: subscribe, accept, then client and group messages in one loop."""
    async with broadcast.subscribe(f"room-{room}") as subscription:
        await websocket.accept()
        async for event in broadcast.listen(websocket, subscription):
            if isinstance(event, Message):
                await websocket.send_json(event.data)
            else:
                await broadcast.publish(f"room-{room}", {"text": event})


async def room_relay(websocket: WebSocket, room: str) -> None:
    """A function view relaying its room: group messages go straight to the client."""
    async with broadcast.subscribe(f"room-{room}") as subscription:
        await websocket.accept()
        async for text in broadcast.listen(websocket, subscription, forward=True):
            await broadcast.publish(f"room-{room}", json.loads(text))


class RoomWithItsOwnHandler(Room):
    """A room whose on_group_message sends each message itself."""

    async def on_group_message(self, websocket: WebSocket, message: Message) -> None:
        await websocket.send_text(json.dumps(message.data))


def announce(request: HttpRequest) -> HttpResponse:
    """A sync Django view publishing to websockets."""
    broadcast.publish_sync("announcements", {"announcement": request.GET["text"]})
    return HttpResponse("sent")


async def flood(websocket: WebSocket, room: str) -> None:
    """Publish as many messages of the size the client asks for to a room it is not in."""
    await websocket.accept()
    request = await websocket.receive_json()
    payload = "x" * request["size"]
    for number in range(request["count"]):
        await broadcast.publish(f"room-{room}", {"n": number, "payload": payload})
        await asyncio.sleep(request.get("interval", 0))
    await websocket.send_text("done")
    await websocket.receive_text()
