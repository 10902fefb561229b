"""The client protocol on the wire, on every server: what a non-browser client meets.

A script or an app speaks ``django-asgi-ws.v1`` with any websocket library;
here the ``websockets`` library does, against uvicorn and daphne through
``runasgi`` and against the production entry points.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.live import ALL_SERVERS, LiveServer, live_server

pytestmark = pytest.mark.e2e

PROTOCOL = "django-asgi-ws.v1"


@pytest.fixture(scope="module", params=ALL_SERVERS)
def live(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    with live_server(request.param) as server:
        yield server


def origin(live: LiveServer) -> dict[str, str]:
    return {"Origin": f"http://{live.host}:{live.port}"}


def receive(ws: ClientConnection) -> Any:
    return json.loads(ws.recv(timeout=5))


def test_two_clients_talk_in_a_room_with_positions_requests_and_presence(
    live: LiveServer,
) -> None:
    room = uuid.uuid4().hex[:12]
    url = f"{live.url}/ws/protocol-room/{room}/"
    with (
        connect(f"{url}?user=ada", subprotocols=[PROTOCOL], additional_headers=origin(live)) as ada,
        connect(f"{url}?user=bob", subprotocols=[PROTOCOL], additional_headers=origin(live)) as bob,
    ):
        assert (ada.subprotocol, bob.subprotocol) == (PROTOCOL, PROTOCOL)
        assert receive(ada)["type"] == "welcome"
        assert receive(bob)["type"] == "welcome"
        bob.send(json.dumps({"type": "request", "id": 1, "data": "who"}))
        reply = None
        while reply is None:  # presence events may come first
            frame = receive(bob)
            reply = frame if frame["type"] == "reply" else None
        assert reply == {"type": "reply", "id": 1, "data": ["ada", "bob"]}
        ada.send(json.dumps({"type": "message", "data": {"text": "hi"}}))
        message = None
        while message is None:
            frame = receive(bob)
            message = frame if frame["type"] == "message" else None
        assert message == {
            "type": "message",
            "group": f"room-{room}",
            "position": None,  # the test project keeps no history
            "data": {"text": "hi"},
        }
        ada.send(json.dumps({"type": "ping"}))
        while (frame := receive(ada))["type"] != "pong":
            assert frame["type"] in ("join", "message")


@pytest.mark.parametrize(
    ("path", "code"),
    [("/ws/members-view/", 4403), ("/ws/no-such-route/", 4404), ("/ws/refuse/", 4403)],
)
def test_a_refusal_is_a_close_code_a_protocol_client_can_read(
    live: LiveServer, path: str, code: int
) -> None:
    with connect(
        f"{live.url}{path}", subprotocols=[PROTOCOL], additional_headers=origin(live)
    ) as ws:
        assert ws.subprotocol == PROTOCOL
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code


def test_a_cross_site_page_offering_the_protocol_learns_only_4403(live: LiveServer) -> None:
    with (
        connect(
            f"{live.url}/ws/protocol-room/r/",
            subprotocols=[PROTOCOL],
            additional_headers={"Origin": "https://evil.test"},
        ) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "")


def test_a_client_without_the_protocol_still_gets_an_http_refusal(live: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{live.url}/ws/members-view/", additional_headers=origin(live))
    assert refused.value.response.status_code == 403
