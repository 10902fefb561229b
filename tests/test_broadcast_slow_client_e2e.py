"""A client that stops reading while its groups keep publishing: memory stays bounded.

The client below completes the handshake over a raw socket with a small
receive buffer, then reads nothing while another connection floods its room
with 20 MB. On both servers a send waits while the socket's buffer is full, so
from then on the view's subscription queue (QUEUE_SIZE, 20 here) is all that
can grow, and OVERFLOW decides what happens to it: the oldest messages are
dropped, or the socket is closed with 1013.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Close
from websockets.protocol import State
from websockets.sync.client import connect
from websockets.uri import parse_uri

from tests.live import LiveServer, serve_subprocess

pytestmark = pytest.mark.e2e

MESSAGES = 400
MESSAGE_SIZE = 50_000  # 20 MB in all: far more than any socket buffer
ABORTED = -1  # the server reset the connection: its close frame was never read


class StalledClient:
    """A websocket client that reads only when told to."""

    def __init__(self, live: LiveServer, path: str) -> None:
        self.protocol = ClientProtocol(parse_uri(f"{live.url}{path}"), max_size=None)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((live.host, live.port))
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        while self.protocol.state is State.CONNECTING:
            self.protocol.receive_data(self.sock.recv(65536))
        assert self.protocol.state is State.OPEN, self.protocol.handshake_exc
        self.protocol.events_received()  # the handshake response

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def read_until_closed_or(self, last: int, timeout: float = 30) -> tuple[list[int], int | None]:
        """Read until the server closes, or message number *last* arrives: the message
        numbers, and the close code (None if the server did not close; ABORTED if it
        gave up waiting for the client to read its close frame and reset the connection)."""
        numbers: list[int] = []
        self.sock.settimeout(timeout)
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except ConnectionResetError:
                return numbers, ABORTED
            self.protocol.receive_data(data) if data else self.protocol.receive_eof()
            for frame in self.protocol.events_received():
                if frame.opcode.name == "TEXT":
                    numbers.append(json.loads(frame.data)["n"])
                elif frame.opcode.name == "CLOSE":
                    self._flush()
                    return numbers, Close.parse(frame.data).code
            self._flush()
            if not data or (numbers and numbers[-1] == last):
                return numbers, None

    def close(self) -> None:
        self.sock.close()


def rss_kib(pid: int) -> int:
    return int(
        subprocess.run(
            ["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True, check=True
        ).stdout
    )


@contextmanager
def serve(server: str, overflow: str) -> Iterator[LiveServer]:
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings_broadcast",
        "DJANGO_ASGI_WS_BROADCAST": "memory",
        "DJANGO_ASGI_WS_QUEUE_SIZE": "20",
        "DJANGO_ASGI_WS_OVERFLOW": overflow,
    }
    with serve_subprocess([sys.executable, "-m", "tests.serve", server], env=env) as live:
        yield live


def flood(live: LiveServer, room: str) -> None:
    """Publish MESSAGES messages of MESSAGE_SIZE to the room, from another connection."""
    with connect(f"{live.url}/ws/flood/{room}/", max_size=None) as publisher:
        publisher.send(json.dumps({"count": MESSAGES, "size": MESSAGE_SIZE, "interval": 0.001}))
        assert publisher.recv(timeout=120) == "done"


@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
@pytest.mark.parametrize("overflow", ["drop_oldest", "close"])
def test_a_client_that_stops_reading_never_grows_the_server_without_bound(
    server: str, overflow: str
) -> None:
    with serve(server, overflow) as live:
        stalled = StalledClient(live, "/ws/room/stalled/")
        try:
            time.sleep(0.3)  # the view joins its room once it accepted
            before = rss_kib(live.process.pid)
            flood(live, "stalled")
            grown_mib = (rss_kib(live.process.pid) - before) / 1024
            numbers, code = stalled.read_until_closed_or(last=MESSAGES - 1)
        finally:
            stalled.close()

    # 20 MB went to a client that read nothing; the server grew by about 1 MiB
    # (plain daphne, which buffers whatever is sent, grows by 17.5 MiB).
    assert grown_mib < 6, f"the server grew by {grown_mib:.1f} MiB"
    assert numbers == sorted(numbers)  # what arrives, arrives in order
    if overflow == "close":
        # The 1013 close frame waits behind the full buffer. If the flood took longer
        # than the close timeout, the server has given up on the client and reset the
        # connection (the unread data is then lost): closed either way.
        assert code in (1013, ABORTED)
        assert len(numbers) < MESSAGES
        assert "too slow" in live.log()
    else:
        assert 0 < len(numbers) < MESSAGES
        assert code is None  # still open
        assert numbers[-1] == MESSAGES - 1  # the newest are kept, the oldest dropped
        assert "Dropped" in live.log()
