"""Views in broadcast groups: client messages and group messages at the same time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from django.test import AsyncClient, Client, override_settings

from django_asgi_ws import WebSocketDisconnect, broadcast, frames
from django_asgi_ws.test import WebSocketClient, WebSocketRefused
from tests.broadcast_support import broadcast_setting, unique_group


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


async def test_a_function_view_relaying_its_room(client: WebSocketClient) -> None:
    """``listen(forward=True)`` sends group messages on, as a view does by default."""
    async with (
        client.connect("/ws/room-relay/teal/") as alice,
        client.connect("/ws/room-relay/teal/") as bob,
    ):
        await broadcast.publish("room-teal", {"text": "from the server"})
        await broadcast.publish("room-teal", b"\x00raw")
        for ws in (alice, bob):
            assert await ws.receive_json() == {"text": "from the server"}
            assert await ws.receive_bytes() == b"\x00raw"
        await alice.send_json({"text": "from alice"})
        assert await bob.receive_json() == {"text": "from alice"}
        assert await alice.receive_json() == {"text": "from alice"}
    assert "room-teal" not in broadcast.get_backend().local_groups


# Joined before the client sees the accept --------------------------------------------


@pytest.fixture(
    params=[
        "memory",
        pytest.param("late", id="memory-confirming-late"),
        "redis",
        "postgres",
    ]
)
async def any_backend(request: pytest.FixtureRequest, settings: Any) -> AsyncIterator[None]:
    """The process's backend for this test: memory, one that confirms joins late as a
    broker does, or the real Redis or PostgreSQL."""
    settings.WEBSOCKET_BROADCAST = broadcast_setting(request.param)
    yield
    await broadcast.aclose()


@pytest.mark.parametrize(
    "view",
    [
        pytest.param("room", id="WebSocketView.get_groups"),
        pytest.param("room-function", id="function-view-subscribing-before-accept"),
    ],
)
async def test_a_message_published_as_soon_as_connect_returns_reaches_the_view(
    any_backend: None, view: str, client: WebSocketClient
) -> None:
    # Brokers confirm a subscription a moment after it is asked for: the view's
    # groups are joined before the accept is sent, so nothing falls in between.
    for number in range(50):
        room = unique_group("room")
        async with client.connect(f"/ws/{view}/{room}/") as ws:
            await broadcast.publish(f"room-{room}", {"n": number})
            assert await ws.receive_json() == {"n": number}


async def test_get_groups_sees_what_on_connect_set_before_accepting(
    any_backend: None, client: WebSocketClient
) -> None:
    async with client.connect("/ws/inbox/?owner=ada") as ws:
        await broadcast.publish("inbox:ada", "for ada")
        assert await ws.receive_json() == "for ada"


async def test_a_refused_handshake_never_asks_for_its_groups(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Inbox.get_groups() would fail without the owner that on_connect checks first.
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/inbox/")
    assert refused.value.status_code == 403
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_groups_that_cannot_be_joined_refuse_the_handshake(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    # "inbox:two words" is not a valid group name: rather than accepted, then
    # closed with 1011, the handshake is refused as if on_connect had raised.
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/inbox/?owner=two+words")
    assert refused.value.status_code == 500
    [error] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert error.getMessage() == "Internal error in websocket view for /ws/inbox/"
    assert error.exc_info is not None
    assert "Invalid group name" in str(error.exc_info[1])
    assert broadcast.get_backend().local_groups == set()


@pytest.mark.django_db
async def test_a_sync_django_view_publishes_to_websockets(client: WebSocketClient) -> None:
    async with client.connect("/ws/lobby/") as ws:
        response = await AsyncClient().get("/announce/", {"text": "deploy at 5"})
        assert response.content == b"sent"
        assert await ws.receive_json() == {
            "group": "announcements",
            "data": {"announcement": "deploy at 5"},
        }


@override_settings(WEBSOCKET_BROADCAST={})  # a memory backend of the test's own
def test_a_sync_view_served_over_wsgi_says_its_message_reached_nobody(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Under WSGI no websocket can subscribe: the memory backend's message is lost,
    # and a WARNING says so.
    response = Client().get("/announce/", {"text": "deploy at 5"})
    assert response.content == b"sent"
    assert "publish_sync() to group 'announcements' reached nobody" in caplog.text


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


@override_settings(WEBSOCKET_BROADCAST={"QUEUE_SIZE": 5, "OVERFLOW": "close"})
async def test_an_overflow_asks_the_server_to_close_a_client_that_stopped_reading(
    client: WebSocketClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's close_stalled (see frames) is offered the overflow at once; this
    one says the client still reads, and the view closes at its next read."""
    offered: list[tuple[int, str]] = []

    def close_stalled(code: int, reason: str) -> bool:
        offered.append((code, reason))
        return False

    build_scope = client._build_scope

    def scope_with_the_extension(*args: Any) -> dict[str, Any]:
        scope: dict[str, Any] = build_scope(*args)
        scope["extensions"][frames.EXTENSION] = {"close_stalled": close_stalled}
        return scope

    monkeypatch.setattr(client, "_build_scope", scope_with_the_extension)
    try:
        async with client.connect("/ws/slow-reader/") as ws:
            for number in range(50):
                await broadcast.publish("firehose", number)
            with pytest.raises(WebSocketDisconnect) as closed:
                while True:
                    await ws.receive_json()
        assert closed.value.code == 1013
        assert offered == [(1013, "Too slow to receive broadcast messages.")]
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
