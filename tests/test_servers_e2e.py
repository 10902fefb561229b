"""The same behaviour on the wire on uvicorn and daphne, over real sockets.

Each server runs the test project in a subprocess: started through
``django_asgi_ws.servers`` as ``runasgi`` starts it, and through each
production entry point (``uvicorn --ws ...``, gunicorn with our worker,
``python -m django_asgi_ws.servers.daphne``).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.live import ALL_SERVERS, DENIAL_RESPONSES, LiveServer, live_server
from tests.outcomes import OUTCOMES, Outcome

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=ALL_SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, LiveServer]]:
    with live_server(request.param) as live:
        yield request.param, live


def receive_until_closed(ws: ClientConnection) -> tuple[list[str | bytes], int | None, str]:
    received: list[str | bytes] = []
    try:
        while True:
            received.append(ws.recv(timeout=5))
    except ConnectionClosed as closed:
        frame = closed.rcvd
        return received, (frame.code if frame else None), (frame.reason if frame else "")


def test_ping_pong(server: tuple[str, LiveServer]) -> None:
    _, live = server
    with connect(live.url + "/ws/ping/") as ws:
        ws.send("ping")
        assert ws.recv(timeout=5) == "pong!"
        ws.send("pong")
        assert ws.recv(timeout=5) == "unknown: pong"


def test_the_serving_process_has_its_collector_set_up(server: tuple[str, LiveServer]) -> None:
    """WEBSOCKET_GC_THRESHOLD (its default), and the application frozen for the collector."""
    _, live = server
    with connect(live.url + "/ws/collector/") as ws:
        collector = json.loads(ws.recv(timeout=5))
    assert collector["threshold"] == 20_000
    assert collector["frozen"] > 10_000  # Django and the project, at least


def test_a_websocket_does_not_keep_the_http_protocol_it_came_from(
    server: tuple[str, LiveServer],
) -> None:
    """On uvicorn, our HTTP protocol's request timer stops when the connection upgrades."""
    name, live = server
    if "daphne" in name:
        pytest.skip("daphne's HTTP protocol is daphne's own")
    with contextlib.ExitStack() as sockets:
        for _ in range(20):
            sockets.enter_context(connect(live.url + "/ws/echo/"))
        with connect(live.url + "/ws/http-protocols/") as probe:
            alive = json.loads(probe.recv(timeout=5))
    assert alive < 5  # not one per open websocket


def test_echo_text_binary_and_empty_messages(server: tuple[str, LiveServer]) -> None:
    _, live = server
    with connect(live.url + "/ws/echo/") as ws:
        for message in ["héllo", b"\x00\x01", "", b"", "x" * 100_000]:
            ws.send(message)
            assert ws.recv(timeout=5) == message


@pytest.mark.parametrize("compression", ["deflate", None])
def test_texts_of_every_frame_length_arrive_whole_with_compression_or_without(
    server: tuple[str, LiveServer], compression: str | None
) -> None:
    """Without compression, our uvicorn integration writes text frames it built itself."""
    _, live = server
    texts = ["", "é" * 62, "x" * 125, "x" * 126, "ü" * 32_768, "x" * 65_535, "x" * 65_536]
    with connect(live.url + "/ws/echo/", compression=compression) as ws:
        for text in texts:
            ws.send(text)
            assert ws.recv(timeout=5) == text


def test_a_room_delivers_every_message_in_order_whatever_the_socket_negotiated(
    server: tuple[str, LiveServer],
) -> None:
    """On uvicorn, uncompressed sockets get a room's messages in the publisher's turn.

    So does a function view relaying its room with ``listen(forward=True)``; a
    view's own ``on_group_message`` runs in that turn on Python 3.12 and later.
    """
    _, live = server
    room = uuid.uuid4().hex[:12]
    count = 300
    with (
        connect(f"{live.url}/ws/room/{room}/", compression=None) as plain,
        connect(f"{live.url}/ws/room/{room}/") as deflated,
        connect(f"{live.url}/ws/room-relay/{room}/", compression=None) as relayed,
        connect(f"{live.url}/ws/room-handler/{room}/", compression=None) as handled,
        connect(
            f"{live.url}/ws/protocol-room/{room}/",
            compression=None,
            subprotocols=[Subprotocol("django-asgi-ws.v1")],
        ) as enveloped,
    ):
        assert json.loads(enveloped.recv(timeout=5))["type"] == "welcome"
        for number in range(count):
            plain.send(json.dumps({"n": number}))
        for ws in (plain, deflated, relayed, handled):
            assert [json.loads(ws.recv(timeout=5))["n"] for _ in range(count)] == list(range(count))
        received = []
        while len(received) < count:
            frame = json.loads(enveloped.recv(timeout=5))
            if frame["type"] == "message":
                received.append(frame["data"]["n"])
        assert received == list(range(count))


def test_the_application_sends_empty_messages(server: tuple[str, LiveServer]) -> None:
    _, live = server
    with connect(live.url + "/ws/empty/") as ws:
        assert [ws.recv(timeout=5) for _ in range(3)] == ["", b"", "done"]


def test_json_class_based_view(server: tuple[str, LiveServer]) -> None:
    _, live = server
    with connect(live.url + "/ws/counter/") as ws:
        ws.send(json.dumps({"add": 2}))
        assert json.loads(ws.recv(timeout=5)) == {"count": 12}
        ws.send(json.dumps({"add": 3}))
        assert json.loads(ws.recv(timeout=5)) == {"count": 15}


def test_request_attributes_subprotocol_and_non_ascii_path(
    server: tuple[str, LiveServer],
) -> None:
    _, live = server
    with connect(
        live.url + "/ws/caf%C3%A9/?q=1",
        subprotocols=["chat.v2", "chat.v1"],  # type: ignore[list-item]
        additional_headers={"Cookie": "a=1; b=2"},
    ) as ws:
        assert ws.subprotocol == "chat.v2"
        seen = json.loads(ws.recv(timeout=5))
    assert seen["path"] == "/ws/café/"
    assert seen["url_name"] == "cafe"
    assert seen["query"] == ["1"]
    assert seen["cookies"] == {"a": "1", "b": "2"}
    assert seen["subprotocols"] == ["chat.v2", "chat.v1"]
    assert seen["client_is_set"] is True


@pytest.mark.parametrize("outcome", OUTCOMES, ids=lambda outcome: outcome.name)
def test_every_connection_ends_as_the_test_client_says(
    server: tuple[str, LiveServer], outcome: Outcome
) -> None:
    name, live = server
    log_before = len(live.log())
    if outcome.refused:
        with pytest.raises(InvalidStatus) as refused:
            connect(live.url + outcome.path, open_timeout=5)
        expected = outcome.refused if DENIAL_RESPONSES[name] else 403
        assert refused.value.response.status_code == expected
    else:
        with connect(live.url + outcome.path) as ws:
            if outcome.send is not None:
                ws.send(outcome.send)
            _, code, reason = receive_until_closed(ws)
        assert (code, reason) == (outcome.close_code, outcome.close_reason)
    if outcome.traceback_logged:
        log = live.wait_for_output("Traceback", timeout=5)[log_before:]
        assert "Internal error in websocket view" in log
    else:
        assert "Traceback" not in live.log()[log_before:]


def test_no_server_error_lines_for_refused_connections(server: tuple[str, LiveServer]) -> None:
    _, live = server
    log_before = len(live.log())
    for _ in range(3):
        with pytest.raises(InvalidStatus):
            connect(live.url + "/ws/nowhere/", open_timeout=5)
    assert live.log()[log_before:] == ""


def test_http_is_served_by_django(server: tuple[str, LiveServer]) -> None:
    import urllib.request

    _, live = server
    with urllib.request.urlopen(f"http://{live.host}:{live.port}/hello/", timeout=5) as reply:
        assert reply.read() == b"hello over http"
