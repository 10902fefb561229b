"""Clients that stop reading, or trickle their handshake in: the server's wait is bounded.

A client that stops reading leaves the server's send buffer full, and a close
frame the server sends waits behind it: the connection must still be gone
within WEBSOCKET_CLOSE_TIMEOUT (1 s in tests.settings_faults) of the close's
start, aborted (the client sees a reset), and the view must end. A view
blocked in a send to such a client cannot read its subscription: the
overflow of its queue (OVERFLOW = "close") must close it all the same. A client that
sends its handshake one byte at a time must be dropped once
WEBSOCKET_HANDSHAKE_TIMEOUT (1 s) has passed since it connected, however
steadily the bytes come.

The stalled clients are raw sockets with a small receive buffer that complete
the handshake and then read nothing; whether the server reset the connection
is read from the socket's TCP state, without reading.
"""

from __future__ import annotations

import base64
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from websockets.sync.client import connect

from tests.live import ALL_SERVERS, ENTRY_POINTS, LiveServer, live_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads TCP_INFO"),
]

SETTINGS = {"DJANGO_SETTINGS_MODULE": "tests.settings_faults"}
CLOSE_TIMEOUT = HANDSHAKE_TIMEOUT = 1.0
# What a loaded machine may add to a bound before the test calls it broken.
MARGIN = 2.0

TCP_ESTABLISHED, TCP_CLOSE = 1, 7


@pytest.fixture(scope="module", params=ALL_SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    with live_server(request.param, env=SETTINGS) as live:
        yield live


class StalledClient:
    """A websocket client that completes the handshake, then never reads again."""

    def __init__(self, live: LiveServer, path: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect((live.host, live.port))
        key = base64.b64encode(b"sixteen-byte-key").decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {live.host}:{live.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
            ).encode()
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: no frame read
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.opened = time.monotonic()

    def seconds_until_reset(self, limit: float = 15.0) -> float | None:
        """Seconds from the handshake until the server reset the connection (None:
        still established after *limit* s), then check that it was a reset."""
        while time.monotonic() - self.opened < limit:
            state = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
            if state != TCP_ESTABLISHED:
                waited = time.monotonic() - self.opened
                assert state == TCP_CLOSE, f"TCP state {state}, not closed by a reset"
                with pytest.raises(ConnectionResetError):
                    while self.sock.recv(1 << 16):  # what arrived before the reset
                        pass
                return waited
            time.sleep(0.02)
        return None

    def close(self) -> None:
        self.sock.close()


@contextmanager
def stalled(live: LiveServer, path: str) -> Iterator[StalledClient]:
    client = StalledClient(live, path)
    try:
        yield client
    finally:
        client.close()


def assert_serving(live: LiveServer) -> None:
    with connect(f"{live.url}/ws/echo/", open_timeout=5) as ws:
        ws.send("still serving")
        assert ws.recv(timeout=5) == "still serving"


def test_a_view_closing_a_client_that_stopped_reading_aborts_it_within_the_close_timeout(
    server: LiveServer,
) -> None:
    """The view's close() returns at once, its close frame waits behind what the
    client never reads, and the connection is reset when the close timeout ends."""
    with stalled(server, "/ws/close-a-stalled-client/") as client:
        waited = client.seconds_until_reset()
    assert waited is not None, "still open after 15 s"
    # From the handshake: the sends took half a second at least before the close.
    assert 0.5 + CLOSE_TIMEOUT * 0.8 < waited < 0.5 + CLOSE_TIMEOUT + MARGIN
    server.wait_for_output("close returned after 0.0 s")
    assert_serving(server)


@pytest.mark.parametrize("server_name", ["uvicorn", "daphne"])
def test_a_client_that_stops_reading_and_answering_pings_is_aborted(server_name: str) -> None:
    """The keepalive fails the connection (1011) after 0.5 + 0.5 s; its close
    frame waits behind the full buffer, and the view is blocked in a send."""
    with (
        live_server(server_name, env={**SETTINGS, "DJANGO_ASGI_WS_PING": "0.5"}) as live,
        stalled(live, "/ws/send-until-disconnected/") as client,
    ):
        waited = client.seconds_until_reset()
        assert waited is not None, "still open after 15 s"
        assert waited < 2 * 0.5 + CLOSE_TIMEOUT + MARGIN
        live.wait_for_output("send raised the disconnect")
        assert_serving(live)


@pytest.mark.parametrize("server_name", ["uvicorn", *ENTRY_POINTS])
def test_a_client_that_stopped_reading_does_not_hold_up_a_graceful_stop(
    server_name: str,
) -> None:
    """SIGTERM closes the socket (1001 or 1012) behind its full buffer: the
    client is reset within the close timeout, the view blocked in its send sees
    the disconnect, and the server exits long before WEBSOCKET_SHUTDOWN_TIMEOUT."""
    with (
        live_server(server_name, env=SETTINGS) as live,
        stalled(live, "/ws/send-until-disconnected/") as client,
    ):
        time.sleep(0.5)  # the buffers fill; the view waits in a send
        stopped = time.monotonic()
        live.process.send_signal(signal.SIGTERM)
        waited = client.seconds_until_reset()
        assert waited is not None, "still open after 15 s"
        assert time.monotonic() - stopped < CLOSE_TIMEOUT + MARGIN
        live.process.wait(timeout=CLOSE_TIMEOUT + MARGIN + 3)
        assert "send raised the disconnect" in live.log()


def flood(live: LiveServer, room: str) -> None:
    """Publish 400 messages of 50 kB to *room* from another connection: 20 MB."""
    with connect(f"{live.url}/ws/flood/{room}/") as publisher:
        publisher.send(json.dumps({"count": 400, "size": 50_000, "interval": 0.001}))
        assert publisher.recv(timeout=60) == "done"


@pytest.mark.parametrize(
    "view",
    [
        pytest.param("room", id="WebSocketView"),
        pytest.param("room-handler", id="its own on_group_message"),
        pytest.param("room-relay", id="listen(forward=True)"),
    ],
)
def test_a_subscriber_that_stopped_reading_is_closed_when_its_queue_overflows(
    server: LiveServer, view: str
) -> None:
    """Its view waits in a send that the client never lets through while the room
    floods it; the overflow (OVERFLOW = "close", 20 messages) closes the
    connection with 1013 at once, and the close timeout resets it."""
    room = f"stalled-{view}"
    with stalled(server, f"/ws/{view}/{room}/") as client:
        time.sleep(0.3)  # the view joins its room once it accepted
        publisher = threading.Thread(target=flood, args=(server, room))
        publisher.start()
        try:
            waited = client.seconds_until_reset()
        finally:
            publisher.join(60)
    assert waited is not None, "still open after 15 s"
    # 4 MB or so fill the buffers, 20 more messages the queue: well under a second.
    assert waited < 0.3 + 1 + CLOSE_TIMEOUT + MARGIN
    assert "too slow" in server.log()
    assert_serving(server)


def seconds_until_dropped(live: LiveServer, request: bytes, interval: float) -> float | None:
    """Send *request* one byte every *interval* s, reading meanwhile: the seconds until
    the server ended the connection, or None if it never did while bytes were left."""
    with socket.create_connection((live.host, live.port), timeout=5) as sock:
        started = time.monotonic()
        sock.settimeout(interval)
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
                if not sock.recv(4096):
                    return time.monotonic() - started
            except TimeoutError:
                continue  # nothing from the server: the next byte
            except OSError:  # reset, or a broken pipe
                return time.monotonic() - started
        return None


def test_a_handshake_trickling_in_byte_by_byte_is_dropped_after_the_handshake_timeout(
    server: LiveServer,
) -> None:
    """One byte every 0.2 s keeps an idle timeout from ever firing; the request's
    head must still be in within WEBSOCKET_HANDSHAKE_TIMEOUT of the connection."""
    request = (
        f"GET /ws/echo/ HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2l4dGVlbi1ieXRlLWtleQ==\r\n\r\n"
    ).encode()
    waited = seconds_until_dropped(server, request, interval=0.2)
    assert waited is not None, "the whole request trickled in without being dropped"
    assert HANDSHAKE_TIMEOUT * 0.8 < waited < HANDSHAKE_TIMEOUT + MARGIN
    assert_serving(server)
