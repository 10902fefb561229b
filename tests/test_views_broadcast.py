"""Views in broadcast groups: client messages and group messages at the same time."""

from __future__ import annotations

import asyncio

import pytest
from django.test import AsyncClient, override_settings

from django_asgi_ws import WebSocketDisconnect, broadcast
from django_asgi_ws.test import WebSocketClient


async def test_a_group_message_reaches_a_client_that_never_speaks(
    client: WebSocketClient,
) -> None:
    """The receive loop does not block server push."""
    async with client.connect("/ws/room/blue/") as ws:
        await broadcast.publish("room-blue", {"text": "pushed"})
        assert await ws.receive_json() == {"text": "pushed"}


async def test_what_a_client_sends_reaches_everybody_in_the_room(
    client: WebSocketClient,
) -> None:
    async with (
        client.connect("/ws/room/red/") as alice,
        client.connect("/ws/room/red/") as bob,
        client.connect("/ws/room/green/") as carol,
    ):
        await alice.send_json({"text": "hi all"})
        assert await alice.receive_json() == {"text": "hi all"}
        assert await bob.receive_json() == {"text": "hi all"}
        assert await carol.receive_nothing()


async def test_client_and_group_messages_interleave_in_order(client: WebSocketClient) -> None:
    async with client.connect("/ws/room/amber/") as ws:
        for number in range(50):
            await broadcast.publish("room-amber", {"n": number})
            await ws.send_json({"mine": number})
        received = [await ws.receive_json() for _ in range(100)]
    theirs = [m["n"] for m in received if "n" in m]
    mine = [m["mine"] for m in received if "mine" in m]
    assert theirs == list(range(50))
    assert mine == list(range(50))


async def test_a_view_joins_and_leaves_groups_while_connected(client: WebSocketClient) -> None:
    async with client.connect("/ws/room/home/") as ws:
        await ws.send_json({"join": "extra"})
        assert await ws.receive_json() == {"joined": "extra"}
        await broadcast.publish("room-extra", "from extra")
        assert await ws.receive_json() == "from extra"

        await ws.send_json({"leave": "extra"})
        assert await ws.receive_json() == {"left": "extra"}
        await broadcast.publish("room-extra", "missed")
        await broadcast.publish("room-home", "still home")
        assert await ws.receive_json() == "still home"


async def test_static_groups_and_a_custom_group_handler(client: WebSocketClient) -> None:
    async with client.connect("/ws/lobby/") as ws:
        await broadcast.publish("lobby", [1, 2])
        await broadcast.publish("announcements", "tea is ready")
        assert await ws.receive_json() == {"group": "lobby", "data": [1, 2]}
        assert await ws.receive_json() == {"group": "announcements", "data": "tea is ready"}


async def test_bytes_go_out_as_binary_by_default(client: WebSocketClient) -> None:
    async with client.connect("/ws/room/bytes/") as ws:
        await broadcast.publish("room-bytes", b"\x01\x02")
        assert await ws.receive_bytes() == b"\x01\x02"


async def test_a_view_without_groups_can_join_later(client: WebSocketClient) -> None:
    async with client.connect("/ws/quiet/") as ws:
        await broadcast.publish("later", "too early")
        await ws.send_text("later")
        assert await ws.receive_text() == "joined later"
        await broadcast.publish("later", "in time")
        assert await ws.receive_json() == "in time"


async def test_leaving_the_socket_leaves_the_groups(client: WebSocketClient) -> None:
    backend = broadcast.get_backend()
    async with client.connect("/ws/room/gone/") as ws:
        await broadcast.publish("room-gone", 1)
        await ws.receive_json()
        assert "room-gone" in backend.local_groups
    assert "room-gone" not in backend.local_groups


async def test_the_function_view_idiom(client: WebSocketClient) -> None:
    async with (
        client.connect("/ws/room-function/violet/") as alice,
        client.connect("/ws/room-function/violet/") as bob,
    ):
        await broadcast.publish("room-violet", {"text": "from the server"})
        assert await alice.receive_json() == {"text": "from the server"}
        assert await bob.receive_json() == {"text": "from the server"}
        await alice.send_text("from alice")
        assert await bob.receive_json() == {"text": "from alice"}
        assert await alice.receive_json() == {"text": "from alice"}
    assert "room-violet" not in broadcast.get_backend().local_groups


@pytest.mark.django_db
async def test_a_sync_django_view_publishes_to_websockets(client: WebSocketClient) -> None:
    async with client.connect("/ws/lobby/") as ws:
        response = await AsyncClient().get("/announce/", {"text": "deploy at 5"})
        assert response.content == b"sent"
        assert await ws.receive_json() == {
            "group": "announcements",
            "data": {"announcement": "deploy at 5"},
        }


@override_settings(WEBSOCKET_BROADCAST={"QUEUE_SIZE": 5, "OVERFLOW": "close"})
async def test_a_view_too_slow_for_its_groups_closes_with_1013(client: WebSocketClient) -> None:
    try:
        async with client.connect("/ws/slow-reader/") as ws:
            for number in range(50):
                await broadcast.publish("firehose", number)
            received = []
            with pytest.raises(WebSocketDisconnect) as closed:
                while True:
                    received.append(await ws.receive_json())
        assert closed.value.code == 1013
        assert len(received) < 50
    finally:
        await broadcast.aclose()


@override_settings(WEBSOCKET_BROADCAST={"QUEUE_SIZE": 5, "OVERFLOW": "drop_oldest"})
async def test_a_view_too_slow_for_its_groups_loses_the_oldest(client: WebSocketClient) -> None:
    try:
        async with client.connect("/ws/slow-reader/") as ws:
            for number in range(50):
                await broadcast.publish("firehose", number)
            await asyncio.sleep(0)
            received = [await ws.receive_json()]
            while not await ws.receive_nothing(0.2):
                received.append(await ws.receive_json())
        assert received[-1] == 49  # the newest always arrives
        assert len(received) <= 7
        assert received == sorted(received)
    finally:
        await broadcast.aclose()
