"""WebSocketView and groups with history and presence.

A client that comes back gives its last position in the ``since`` query
parameter; the view joins its groups from there, says whether that recovered
everything, and hands each message to ``on_group_message`` with its position.
``get_presence`` makes each connection present in its groups. Run on the
three backends, through the test client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from urllib.parse import quote

import pytest
from django.urls import path

from django_asgi_ws import WebSocket, broadcast
from django_asgi_ws.broadcast import Message
from django_asgi_ws.test import WebSocketClient
from django_asgi_ws.views import WebSocketView
from tests.broadcast_support import BACKENDS_WITH_TABLES, history_setting, unique_group

HISTORY = {"room-*": {"SIZE": 50, "TTL": 60}}


class HistoryRoom(WebSocketView):
    """Says whether it recovered, then sends each message with its position."""

    async def get_groups(self) -> Sequence[str]:
        return [f"room-{room}" for room in self.kwargs["rooms"].split(",")]

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"recovered": self.recovered})

    async def on_group_message(self, websocket: WebSocket, message: Message) -> None:
        if message.event == "message":
            await websocket.send_json({"data": message.data, "position": message.position})
        else:
            await super().on_group_message(websocket, message)


@pytest.fixture(params=BACKENDS_WITH_TABLES)
async def backend_kind(
    request: pytest.FixtureRequest, settings: Any, ws_routes: Callable[[list[Any]], None]
) -> AsyncIterator[str]:
    settings.WEBSOCKET_BROADCAST = history_setting(request.param, HISTORY)
    ws_routes([path("ws/rooms/<str:rooms>/", HistoryRoom.as_view())])
    yield request.param
    await broadcast.aclose()


@pytest.fixture
def room() -> str:
    return unique_group("r")


async def test_a_client_back_with_its_last_position_gets_the_20_it_missed_then_live_ones(
    backend_kind: str, client: WebSocketClient, room: str
) -> None:
    async with client.connect(f"/ws/rooms/{room}/") as ws:
        assert await ws.receive_json() == {"recovered": None}
        await broadcast.publish(f"room-{room}", "first")
        last_seen = await ws.receive_json()
        assert last_seen["data"] == "first"

    missed = [await broadcast.publish(f"room-{room}", n) for n in range(20)]

    async with client.connect(f"/ws/rooms/{room}/?since={last_seen['position']}") as ws:
        assert await ws.receive_json() == {"recovered": True}
        received = [await ws.receive_json() for _ in range(20)]
        assert received == [{"data": n, "position": p} for n, p in enumerate(missed)]
        position = await broadcast.publish(f"room-{room}", "live")
        assert await ws.receive_json() == {"data": "live", "position": position}
        assert await ws.receive_nothing()


async def test_a_position_the_history_cannot_continue_tells_the_client_to_resync(
    backend_kind: str, client: WebSocketClient, room: str
) -> None:
    [first, *_] = [await broadcast.publish(f"room-{room}", n) for n in range(60)]  # SIZE 50
    async with client.connect(f"/ws/rooms/{room}/?since={first}") as ws:
        assert await ws.receive_json() == {"recovered": False}
        assert await ws.receive_nothing()


async def test_an_empty_position_is_a_first_visit(
    backend_kind: str, client: WebSocketClient, room: str
) -> None:
    async with client.connect(f"/ws/rooms/{room}/?since=") as ws:
        assert await ws.receive_json() == {"recovered": None}


@pytest.mark.parametrize("since", ["garbage", "0123456789ab-1", quote("<script>")])
async def test_a_malformed_position_from_the_client_recovers_nothing_and_breaks_nothing(
    backend_kind: str, client: WebSocketClient, room: str, since: str
) -> None:
    async with client.connect(f"/ws/rooms/{room}/?since={since}") as ws:
        assert await ws.receive_json() == {"recovered": False}
        await broadcast.publish(f"room-{room}", "live")
        assert (await ws.receive_json())["data"] == "live"


async def test_positions_of_several_groups_are_given_group_by_group(
    backend_kind: str, client: WebSocketClient
) -> None:
    red, blue = unique_group("r"), unique_group("r")
    red_seen = await broadcast.publish(f"room-{red}", "red 1")
    blue_seen = await broadcast.publish(f"room-{blue}", "blue 1")
    await broadcast.publish(f"room-{red}", "red 2")
    await broadcast.publish(f"room-{blue}", "blue 2")
    query = f"since=room-{red}:{red_seen}&since=room-{blue}:{blue_seen}"
    async with client.connect(f"/ws/rooms/{red},{blue}/?{query}") as ws:
        assert await ws.receive_json() == {"recovered": True}
        received = {(await ws.receive_json())["data"] for _ in range(2)}
        assert received == {"red 2", "blue 2"}


async def test_a_gap_marker_reaches_the_client_as_an_event_by_default(
    backend_kind: str, client: WebSocketClient, room: str
) -> None:
    async with client.connect(f"/ws/rooms/{room}/") as ws:
        await ws.receive_json()
        position = await broadcast.publish(f"room-{room}", "x")
        await ws.receive_json()
        # What the sequencer does when a reconnection's gap cannot be filled.
        broadcast.get_backend()._deliver_gap(f"room-{room}", position)
        assert await ws.receive_json() == {
            "event": "gap",
            "group": f"room-{room}",
            "position": position,
        }


class Present(WebSocketView):
    """Each connection is present in its room under the ``user`` query parameter."""

    presence_events = True

    async def get_groups(self) -> Sequence[str]:
        return [f"room-{self.kwargs['rooms']}"]

    async def get_presence(self, group: str) -> tuple[str, Any] | None:
        user = self.websocket.GET.get("user")
        return None if user is None else (user, {"room": group})


async def test_connections_are_present_and_others_hear_them_come_and_go(
    backend_kind: str, client: WebSocketClient, ws_routes: Callable[[list[Any]], None], room: str
) -> None:
    ws_routes([path("ws/present/<str:rooms>/", Present.as_view())])
    group = f"room-{room}"
    async with client.connect(f"/ws/present/{room}/?user=ada") as ada:
        joined = await ada.receive_json()
        assert joined == {
            "event": "join",
            "group": group,
            "entry": joined["entry"],
            "key": "ada",
            "meta": {"room": group},
        }
        async with client.connect(f"/ws/present/{room}/?user=bob") as bob:
            assert (await bob.receive_json())["key"] == "bob"
            assert await broadcast.presence(group) == {
                "ada": [{"room": group}],
                "bob": [{"room": group}],
            }
            bob_joined = await ada.receive_json()
            assert bob_joined["key"] == "bob"
            bob_entry = bob_joined["entry"]
        left = await ada.receive_json()
        assert left == {
            "event": "leave",
            "group": group,
            "entry": bob_entry,
            "key": "bob",
            "meta": {"room": group},
        }
        assert await broadcast.presence(group) == {"ada": [{"room": group}]}
        async with client.connect(f"/ws/present/{room}/") as anonymous:
            await broadcast.publish(group, "hello")
            assert await anonymous.receive_json() == "hello"
            assert await broadcast.presence(group) == {"ada": [{"room": group}]}
