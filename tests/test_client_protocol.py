"""The client protocol (django-asgi-ws.v1), as a WebSocketView speaks it to a client that offers it.

Everything the view sends is a JSON envelope: a welcome first, with each group
joined so far and the position to resume it from, group messages carry their positions,
requests get replies, pings get pongs. Refusals reach such a client as close
codes (4000 + the HTTP status), since a browser cannot read a refused
handshake's status. A client that does not offer the protocol gets the plain
messages it always got.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from django.urls import path

from django_asgi_ws import WebSocket, broadcast
from django_asgi_ws.client_protocol import PLAIN, PROTOCOL
from django_asgi_ws.decorators import login_required
from django_asgi_ws.exceptions import RequestError
from django_asgi_ws.inprocess import WebSocketRefused
from django_asgi_ws.test import WebSocketClient
from django_asgi_ws.views import WebSocketView
from tests.broadcast_support import history_setting, unique_group

HISTORY = {"room-*": {"SIZE": 50, "TTL": 60}}


class Room(WebSocketView):
    """A chat room: what a client sends goes to the room, and counting is a request."""

    client_protocol = True
    presence_events = True

    async def get_groups(self) -> Sequence[str]:
        return [f"room-{self.kwargs['room']}"]

    async def get_presence(self, group: str) -> tuple[str, Any] | None:
        user = self.websocket.GET.get("user")
        return (user, {"via": "test"}) if user else None

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        if data == "leave":
            await self.leave(f"room-{self.kwargs['room']}")
        elif data == "echo-bytes":
            await self.send(b"\x00\xff")
        else:
            await self.send({"echo": data})

    async def on_request(self, websocket: WebSocket, data: Any) -> Any:
        if data == "count":
            return len(await broadcast.presence(f"room-{self.kwargs['room']}"))
        if data == "boom":
            raise ZeroDivisionError("a bug in the view")
        raise RequestError("unknown", f"No such request: {data!r}.")


class Plain(WebSocketView):
    """A view that does not speak the protocol, even to a client that offers it."""

    groups = ("plain",)


@login_required
class Private(Room):
    pass


class ClosesWithItsOwnCode(WebSocketView):
    client_protocol = True

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.close(4004, "No such room.")


class ChoosesAnotherSubprotocol(Room):
    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept("chat.v2")


@pytest.fixture(autouse=True)
async def routes(settings: Any, ws_routes: Callable[[list[Any]], None]) -> AsyncIterator[None]:
    settings.WEBSOCKET_BROADCAST = history_setting("memory", HISTORY)
    ws_routes(
        [
            path("ws/rooms/<str:room>/", Room.as_view()),
            path("ws/plain/", Plain.as_view()),
            path("ws/private/<str:room>/", Private.as_view()),
            path("ws/closes/", ClosesWithItsOwnCode.as_view()),
            path("ws/other/<str:room>/", ChoosesAnotherSubprotocol.as_view()),
        ]
    )
    yield
    await broadcast.aclose()


@pytest.fixture
def room() -> str:
    return unique_group("r")


def connect(client: WebSocketClient, url: str, *protocols: str) -> Any:
    return client.connect(url, subprotocols=[PROTOCOL, *protocols])


async def test_the_view_accepts_with_the_protocol_and_welcomes_with_its_groups(
    client: WebSocketClient, room: str
) -> None:
    async with connect(client, f"/ws/rooms/{room}/") as ws:
        assert ws.subprotocol == PROTOCOL
        assert await ws.receive_json() == {
            "type": "welcome",
            "groups": {f"room-{room}": None},  # nothing published yet
            "recovered": None,
            "presence": {f"room-{room}": {}},
        }


async def test_a_view_with_no_group_still_welcomes(
    client: WebSocketClient, ws_routes: Callable[[list[Any]], None]
) -> None:
    """The welcome tells a real accept from a refusal, which is an accept closed at once."""

    class Alone(WebSocketView):
        client_protocol = True

    ws_routes([path("ws/alone/", Alone.as_view())])
    async with connect(client, "/ws/alone/") as ws:
        assert await ws.receive_json() == {"type": "welcome", "groups": {}, "recovered": None}


async def test_a_group_joined_after_the_welcome_is_announced_on_its_own(
    client: WebSocketClient, room: str, ws_routes: Callable[[list[Any]], None]
) -> None:
    class JoinsOnRequest(WebSocketView):
        client_protocol = True

        async def on_request(self, websocket: WebSocket, data: Any) -> Any:
            await self.join(str(data))
            return "joined"

    ws_routes([path("ws/joins/", JoinsOnRequest.as_view())])
    position = await broadcast.publish(f"room-{room}", "before")
    async with connect(client, "/ws/joins/") as ws:
        assert (await ws.receive_json())["groups"] == {}
        await ws.send_json({"type": "request", "id": 1, "data": f"room-{room}"})
        assert await ws.receive_json() == {
            "type": "joined",
            "group": f"room-{room}",
            "position": position,
            "recovered": None,
        }
        assert (await ws.receive_json())["data"] == "joined"


async def test_group_messages_carry_their_group_and_position(
    client: WebSocketClient, room: str
) -> None:
    async with connect(client, f"/ws/rooms/{room}/") as ws:
        await ws.receive_json()
        position = await broadcast.publish(f"room-{room}", {"text": "hi"})
        assert await ws.receive_json() == {
            "type": "message",
            "group": f"room-{room}",
            "position": position,
            "data": {"text": "hi"},
        }
        await broadcast.publish(f"room-{room}", b"\x01\x02")
        binary = await ws.receive_json()
        assert binary["binary"] is True
        assert base64.b64decode(binary["data"]) == b"\x01\x02"


async def test_the_position_announced_on_joining_resumes_what_was_missed_before_any_message(
    client: WebSocketClient, room: str
) -> None:
    """A client that received nothing yet can still come back without losing anything."""
    before = await broadcast.publish(f"room-{room}", "before the client came")
    async with connect(client, f"/ws/rooms/{room}/") as ws:
        welcome = await ws.receive_json()
        assert welcome["groups"] == {f"room-{room}": before}
    missed = [await broadcast.publish(f"room-{room}", n) for n in range(3)]

    async with connect(client, f"/ws/rooms/{room}/?since=room-{room}:{before}") as ws:
        welcome = await ws.receive_json()
        assert (welcome["groups"][f"room-{room}"], welcome["recovered"]) == (before, True)
        received = [await ws.receive_json() for _ in missed]
        assert [(m["data"], m["position"]) for m in received] == list(enumerate(missed))


async def test_a_position_the_history_no_longer_holds_asks_the_client_to_resync(
    client: WebSocketClient, room: str
) -> None:
    [first, *rest] = [await broadcast.publish(f"room-{room}", n) for n in range(60)]  # SIZE 50
    async with connect(client, f"/ws/rooms/{room}/?since={first}") as ws:
        welcome = await ws.receive_json()
        # It resumes from the group's last position from now on.
        assert (welcome["recovered"], welcome["groups"]) == (False, {f"room-{room}": rest[-1]})
        assert await ws.receive_nothing()


async def test_messages_from_the_client_reach_on_receive_and_send_wraps_the_answer(
    client: WebSocketClient, room: str
) -> None:
    async with connect(client, f"/ws/rooms/{room}/") as ws:
        await ws.receive_json()
        await ws.send_json({"type": "message", "data": [1, 2]})
        assert await ws.receive_json() == {"type": "message", "data": {"echo": [1, 2]}}
        await ws.send_json({"type": "message", "data": "echo-bytes"})
        reply = await ws.receive_json()
        assert (reply["binary"], base64.b64decode(reply["data"])) == (True, b"\x00\xff")


async def test_requests_are_answered_with_their_id(client: WebSocketClient, room: str) -> None:
    async with connect(client, f"/ws/rooms/{room}/?user=ada") as ws:
        await ws.receive_json()  # welcome
        await ws.receive_json()  # ada's own join
        await ws.send_json({"type": "request", "id": 7, "data": "count"})
        assert await ws.receive_json() == {"type": "reply", "id": 7, "data": 1}
        await ws.send_json({"type": "request", "id": "x", "data": "nonsense"})
        assert await ws.receive_json() == {
            "type": "reply",
            "id": "x",
            "error": {"code": "unknown", "message": "No such request: 'nonsense'."},
        }


async def test_a_request_that_raises_is_logged_and_answered_internal_and_the_socket_stays(
    client: WebSocketClient, room: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with connect(client, f"/ws/rooms/{room}/") as ws:
        await ws.receive_json()
        with caplog.at_level(logging.ERROR, logger="django_asgi_ws"):
            await ws.send_json({"type": "request", "id": 1, "data": "boom"})
            reply = await ws.receive_json()
        assert reply["error"] == {"code": "internal", "message": "The request failed."}
        assert "Room.on_request raised" in caplog.text
        assert "ZeroDivisionError" in caplog.text
        await ws.send_json({"type": "ping"})
        assert await ws.receive_json() == {"type": "pong"}


async def test_a_view_without_on_request_answers_not_supported(
    client: WebSocketClient, room: str, ws_routes: Callable[[list[Any]], None]
) -> None:
    class Quiet(WebSocketView):
        client_protocol = True

    ws_routes([path("ws/quiet/", Quiet.as_view())])
    async with connect(client, "/ws/quiet/") as ws:
        assert (await ws.receive_json())["type"] == "welcome"
        await ws.send_json({"type": "request", "id": 1, "data": None})
        assert (await ws.receive_json())["error"]["code"] == "not_supported"


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        '["a list"]',
        '{"type": "shout"}',
        '{"type": "request", "data": 1}',
        '{"type": "request", "id": true, "data": 1}',
    ],
)
async def test_a_malformed_frame_closes_with_1007(
    client: WebSocketClient, room: str, frame: str
) -> None:
    async with connect(client, f"/ws/rooms/{room}/") as ws:
        await ws.receive_json()
        await ws.send_text(frame)
        assert await ws.wait_closed() == 1007


async def test_a_binary_frame_closes_with_1003(client: WebSocketClient, room: str) -> None:
    async with connect(client, f"/ws/rooms/{room}/") as ws:
        await ws.receive_json()
        await ws.send_bytes(b"{}")
        assert await ws.wait_closed() == 1003


async def test_presence_comes_with_entry_ids_so_events_apply_once(
    client: WebSocketClient, room: str
) -> None:
    async with connect(client, f"/ws/rooms/{room}/?user=ada") as ada:
        await ada.receive_json()
        own_join = await ada.receive_json()
        async with connect(client, f"/ws/rooms/{room}/?user=bob") as bob:
            members = (await bob.receive_json())["presence"][f"room-{room}"]
            assert members[own_join["entry"]] == {"key": "ada", "meta": {"via": "test"}}
            bob_join = await ada.receive_json()
            assert bob_join["type"] == "join"
            assert (bob_join["key"], bob_join["group"]) == ("bob", f"room-{room}")
        bob_leave = await ada.receive_json()
        assert bob_leave == {**bob_join, "type": "leave"}


async def test_leaving_a_group_is_announced(client: WebSocketClient, room: str) -> None:
    async with connect(client, f"/ws/rooms/{room}/") as ws:
        await ws.receive_json()
        await ws.send_json({"type": "message", "data": "leave"})
        assert await ws.receive_json() == {"type": "left", "group": f"room-{room}"}
        await broadcast.publish(f"room-{room}", "unheard")
        assert await ws.receive_nothing()


async def test_a_client_that_does_not_offer_the_protocol_gets_plain_messages(
    client: WebSocketClient, room: str
) -> None:
    async with client.connect(f"/ws/rooms/{room}/") as ws:
        assert ws.subprotocol is None
        await broadcast.publish(f"room-{room}", {"text": "hi"})
        assert await ws.receive_json() == {"text": "hi"}
        await ws.send_text("hello")  # as it is: Room decodes nothing
        assert await ws.receive_json() == {"echo": "hello"}


async def test_a_view_that_does_not_opt_in_accepts_without_the_protocol(
    client: WebSocketClient,
) -> None:
    async with connect(client, "/ws/plain/") as ws:
        assert ws.subprotocol is None
        await broadcast.publish("plain", {"text": "hi"})
        assert await ws.receive_json() == {"text": "hi"}


async def test_a_view_that_does_not_opt_in_accepts_with_the_plain_subprotocol_when_offered(
    client: WebSocketClient,
) -> None:
    """A browser fails a handshake accepted with no subprotocol when it offered some."""
    async with connect(client, "/ws/plain/", PLAIN) as ws:
        assert ws.subprotocol == PLAIN
        await broadcast.publish("plain", {"text": "hi"})
        assert await ws.receive_json() == {"text": "hi"}


async def test_a_view_that_accepts_another_subprotocol_speaks_plain(
    client: WebSocketClient, room: str
) -> None:
    async with connect(client, f"/ws/other/{room}/", "chat.v2") as ws:
        assert ws.subprotocol == "chat.v2"
        await broadcast.publish(f"room-{room}", {"text": "hi"})
        assert await ws.receive_json() == {"text": "hi"}


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/ws/private/r/", 4403),  # login_required
        ("/ws/nowhere/", 4404),  # no route
        ("/ws/closes/", 4004),  # the view's own code
    ],
)
async def test_a_refusal_reaches_a_protocol_client_as_a_close_code(
    client: WebSocketClient, url: str, code: int
) -> None:
    async with connect(client, url) as ws:
        assert ws.subprotocol == PROTOCOL
        assert await ws.wait_closed() == code


async def test_a_refusal_of_a_cross_site_origin_is_a_close_code_and_nothing_else(
    client: WebSocketClient, room: str
) -> None:
    async with client.connect(
        f"/ws/rooms/{room}/", subprotocols=[PROTOCOL], headers={"origin": "https://evil.test"}
    ) as ws:
        assert await ws.wait_closed() == 4403


async def test_a_refusal_is_still_an_http_status_for_other_clients(client: WebSocketClient) -> None:
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/private/r/")
    assert refused.value.status_code == 403
