"""The websocket views the client's browser tests talk to."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from django_asgi_ws import WebSocket, broadcast
from django_asgi_ws.decorators import login_required
from django_asgi_ws.exceptions import RequestError
from django_asgi_ws.views import WebSocketView


class Groups(WebSocketView):
    """Joins the comma-separated groups of the URL, present as ``?user=`` if given.

    What the page sends is published to the first group. Requests are
    ``[kind, argument]``: ``echo`` replies the argument, ``fail`` replies an
    error with the argument as its code, ``sleep`` replies after that many
    seconds, ``binary`` sends those bytes first, ``query`` replies the
    handshake's query parameters; anything else raises.
    """

    client_protocol = True
    presence_events = True

    async def get_groups(self) -> Sequence[str]:
        return self.kwargs["groups"].split(",")

    async def get_presence(self, group: str) -> tuple[str, Any] | None:
        user = self.websocket.GET.get("user")
        return (user, {"user": user}) if user else None

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await broadcast.publish(self.kwargs["groups"].split(",")[0], data)

    async def on_request(self, websocket: WebSocket, data: Any) -> Any:
        kind, argument = data
        if kind == "echo":
            return argument
        if kind == "fail":
            raise RequestError(argument, f"Failed with {argument}.")
        if kind == "sleep":
            await asyncio.sleep(argument)
            return "late"
        if kind == "binary":
            await self.send(bytes(argument))
            return None
        if kind == "query":
            return dict(websocket.GET.lists())
        raise ZeroDivisionError("a bug in the view")


@login_required
class Private(Groups):
    pass


class ClosesWith(WebSocketView):
    """Says hello, then closes with the code of the URL."""

    client_protocol = True

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await self.send("hello")
        await websocket.close(self.kwargs["code"])


class Plain(WebSocketView):
    """Does not speak the protocol: JSON, text that is not JSON, bytes, then echoes."""

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"offered": websocket.subprotocols})
        await websocket.send_text("not JSON")
        await websocket.send_bytes(b"\x01\x02")

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_text(data)


@login_required
class WhoAmI(WebSocketView):
    """Tells the user the connection is for, and the query and subprotocols the view sees."""

    client_protocol = True

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        user = await websocket.auser()
        await self.send(
            {
                "user": user.get_username(),
                "query": dict(websocket.GET.lists()),
                "subprotocols": websocket.subprotocols,
            }
        )
