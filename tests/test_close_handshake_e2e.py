"""A client's close frame between the fragments of a message, on real servers.

RFC 6455 allows control frames in the middle of a fragmented message (5.4), and
a close frame is answered with a close frame, after which further data is
discarded (1.4, 5.5.1). Autobahn|Testsuite checks this in case 7.1.5: a text
fragment, a close with 1000, then the final fragment must get a clean close
with 1000 back. The websockets library behind uvicorn fails the connection with
1002 instead ("incomplete fragmented message"), which the uvicorn protocol of
django_asgi_ws.servers corrects.

The frames are written by hand over a raw socket, in one write or one by one.
"""

from __future__ import annotations

import base64
import socket
import struct
from collections.abc import Iterator

import pytest

from tests.live import ALL_SERVERS, LiveServer, live_server

pytestmark = pytest.mark.e2e

TIMEOUT = 5.0
TEXT, BINARY, CONTINUATION, CLOSE = 0x1, 0x2, 0x0, 0x8


@pytest.fixture(scope="module", params=ALL_SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    with live_server(request.param) as live:
        yield live


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame (payloads under 126 bytes)."""
    mask = b"\x1f\x2e\x3d\x4c"
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + mask + masked


def close(code: int, reason: bytes = b"") -> bytes:
    return frame(CLOSE, struct.pack("!H", code) + reason)


class Connection:
    """An open websocket to the echo view, spoken by hand."""

    def __init__(self, live: LiveServer) -> None:
        self.sock = socket.create_connection((live.host, live.port), timeout=TIMEOUT)
        key = base64.b64encode(b"sixteen-byte-key").decode()
        self.sock.sendall(
            (
                f"GET /ws/echo/ HTTP/1.1\r\nHost: {live.host}:{live.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError
        self.buffer += chunk

    def receive(self) -> tuple[int, bytes]:
        """The next frame from the server: its opcode and payload (unmasked, < 64 KiB)."""
        while len(self.buffer) < 2:
            self._fill()
        length, start = self.buffer[1] & 0x7F, 2
        if length == 126:
            while len(self.buffer) < 4:
                self._fill()
            length, start = struct.unpack("!H", self.buffer[2:4])[0], 4
        while len(self.buffer) < start + length:
            self._fill()
        opcode, payload = self.buffer[0] & 0x0F, self.buffer[start : start + length]
        self.buffer = self.buffer[start + length :]
        return opcode, payload

    def closing(self) -> tuple[list[tuple[int, bytes]], bytes]:
        """The frames before the server's close frame, and that frame's payload; the
        server must then end the TCP connection."""
        frames = []
        while True:
            opcode, payload = self.receive()
            if opcode == CLOSE:
                break
            frames.append((opcode, payload))
        with pytest.raises(EOFError):
            self._fill()
        return frames, payload

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def connection(server: LiveServer) -> Iterator[Connection]:
    connection = Connection(server)
    yield connection
    connection.close()


def send(connection: Connection, frames: list[bytes], burst: bool) -> None:
    if burst:
        connection.sock.sendall(b"".join(frames))
        return
    for data in frames:
        try:
            connection.sock.sendall(data)
        except OSError:  # the server closed after the close frame: fine
            return


@pytest.mark.parametrize("burst", [True, False], ids=["one write", "frame by frame"])
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_a_close_between_fragments_is_answered_with_a_clean_close(
    connection: Connection, opcode: int, burst: bool
) -> None:
    """Autobahn 7.1.5: the close is answered with 1000 and the unfinished message
    is dropped, not failed with 1002."""
    frames = [
        frame(opcode, b"fragment1", fin=False),
        close(1000),
        frame(CONTINUATION, b"fragment2"),
    ]
    send(connection, frames, burst)
    messages, payload = connection.closing()
    assert messages == []
    assert payload[:2] == struct.pack("!H", 1000), payload


def test_a_complete_message_before_the_fragments_is_still_echoed(connection: Connection) -> None:
    frames = [
        frame(TEXT, b"whole"),
        frame(TEXT, b"frag", fin=False),
        close(1000),
    ]
    send(connection, frames, burst=False)
    messages, payload = connection.closing()
    assert messages == [(TEXT, b"whole")]
    assert payload[:2] == struct.pack("!H", 1000), payload


@pytest.mark.parametrize(
    ("closing_frame", "expected"),
    [
        pytest.param(close(999), 1002, id="invalid close code"),
        pytest.param(frame(CLOSE, b"\x03"), 1002, id="one-byte close payload"),
        pytest.param(close(1000, b"\xff"), 1007, id="reason not UTF-8"),
    ],
)
def test_an_invalid_close_between_fragments_still_fails_the_connection(
    connection: Connection, closing_frame: bytes, expected: int
) -> None:
    send(connection, [frame(TEXT, b"fragment1", fin=False), closing_frame], burst=True)
    messages, payload = connection.closing()
    assert messages == []
    assert payload[:2] == struct.pack("!H", expected), payload
