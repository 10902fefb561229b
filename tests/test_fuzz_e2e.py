"""Property-based tests against real uvicorn and daphne servers, over raw sockets.

The handshakes and frames are written byte by byte (tests.fuzz_strategies), so
they carry what a browser never sends: odd paths and queries, odd or huge
headers, malformed cookies and subprotocol lists, unmasked frames, reserved
bits and opcodes, invalid UTF-8, fragmented and oversized control frames,
lengths past WEBSOCKET_MAX_MESSAGE_SIZE, invalid close frames.

Every handshake must be answered (101, 4xx, or a closed connection, never a
5xx or silence, unless it announces a body it never sends), every accepted
connection must end with a documented close code, the server must still echo
after each batch, and at the end it must hold no more tasks, websocket objects
or sockets than before, and have printed no traceback.

Each server runs once per module, with a migrated database for the session
views. What the fuzzing found in the servers themselves, and the server adapters
now handle, is pinned down by the ``test_found_*`` tests at the end.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from django_asgi_ws import routing
from tests import fuzz_strategies as fs
from tests import security_views, ws_views
from tests.fuzz_strategies import WireFrame
from tests.live import LiveServer, serve_subprocess

pytestmark = [
    pytest.mark.e2e,
    # Examples of 1 MiB make long reprs; hypothesis warns, and warnings are errors here.
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]

CLOSE_CODES = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1012, 1013, *range(3000, 5000)}
TIMEOUT = 5.0
# Migrate the (per-process) SQLite database, then serve: the session views need tables.
SERVE_MIGRATED = (
    "import sys, django\n"
    "from django.core.management import call_command\n"
    "from django.db import connections\n"
    "django.setup()\n"
    "call_command('migrate', verbosity=0)\n"
    "connections.close_all()\n"
    "from tests.serve import main\n"
    "main()\n"
)
# Past what the servers accept (8 KiB lines, 128 headers for uvicorn's websockets),
# short of where daphne's HTTP parser stops reading (16 KiB lines, 500 headers).
MAX_LINE = 10_000
MAX_HEADERS = 140


class Server:
    """A live server under fuzzing, and what its diagnostics said before."""

    def __init__(self, name: str, live: LiveServer, baseline: dict[str, Any]) -> None:
        self.name, self.live, self.baseline = name, live, baseline

    def __repr__(self) -> str:  # hypothesis prints it with each failing example
        return f"<{self.name} server at {self.live.url}>"


def diagnostics(live: LiveServer) -> dict[str, Any]:
    with connect(live.url + "/ws/fuzz/diagnostics/", open_timeout=TIMEOUT) as ws:
        report: dict[str, Any] = json.loads(ws.recv(timeout=TIMEOUT))
    return report


def assert_echo_works(live: LiveServer) -> None:
    """The server still serves an ordinary client."""
    with connect(live.url + "/ws/echo/", open_timeout=TIMEOUT) as ws:
        ws.send("still there?")
        assert ws.recv(timeout=TIMEOUT) == "still there?"


@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    argv = [sys.executable, "-c", SERVE_MIGRATED, request.param]
    databases: list[Path] = []
    try:
        with serve_subprocess(argv, env={"DJANGO_SETTINGS_MODULE": "tests.settings"}) as live:
            # tests.settings names the SQLite file after the server's pid.
            databases.append(
                Path(tempfile.gettempdir()) / f"django_asgi_ws_{live.process.pid}.sqlite3"
            )
            assert_echo_works(live)
            yield Server(request.param, live, diagnostics(live))
    finally:
        for database in databases:
            database.unlink(missing_ok=True)


@pytest.fixture
def batch(server: Server) -> Iterator[Server]:
    """The server still echoes after a whole batch of examples."""
    yield server
    assert_echo_works(server.live)


# A raw client ---------------------------------------------------------------------------------

BASE_HEADERS = [
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Version", b"13"),
]


def handshake_request(target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    key = base64.b64encode(b"fuzzing-the-keys")  # any 16 bytes
    lines = [b"GET " + target + b" HTTP/1.1", *(n + b": " + v for n, v in BASE_HEADERS)]
    lines.append(b"Sec-WebSocket-Key: " + key)
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def encode_frame(frame: WireFrame, mask: bytes = b"\x1f\x2e\x3d\x4c") -> bytes:
    first = (0x80 if frame.fin else 0) | (frame.rsv << 4) | frame.opcode
    mask_bit = 0x80 if frame.masked else 0
    length = frame.length
    if frame.length_field == 64 or length > 0xFFFF:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", length)
    elif frame.length_field == 16 or length > 125:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", length)
    else:
        header = bytes([first, mask_bit | length])
    if not frame.masked:
        return header + frame.payload
    size = len(frame.payload)
    keystream = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(frame.payload, "big") ^ int.from_bytes(keystream, "big")).to_bytes(
        size, "big"
    )
    return header + mask + masked


@dataclass
class Received:
    messages: list[str | bytes] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    close: bytes | None = None  # the close frame's payload, if one came
    end: str = ""  # close | eof | reset | timeout

    @property
    def close_code(self) -> int | None:
        if self.close is None or len(self.close) < 2:
            return None
        return int.from_bytes(self.close[:2], "big")


class RawConnection:
    """A TCP connection speaking the websocket protocol by hand."""

    def __init__(self, live: LiveServer, timeout: float = TIMEOUT) -> None:
        self.sock = socket.create_connection((live.host, live.port), timeout=timeout)
        self.buffer = b""

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> bool:
        """False if the server had already closed the connection."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def _fill(self) -> str:
        """Read more; "" or how the stream ended."""
        try:
            chunk = self.sock.recv(1 << 16)
        except TimeoutError:
            return "timeout"
        except OSError:
            return "reset"
        if not chunk:
            return "eof"
        self.buffer += chunk
        return ""

    def handshake(self, request: bytes) -> tuple[int | None, dict[bytes, bytes], str]:
        """The response status (None if none came), its headers, and how the wait ended."""
        self.send(request)
        while b"\r\n\r\n" not in self.buffer:
            ended = self._fill()
            if ended:
                return None, {}, ended
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.split(b"\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), headers, ""

    def read(self, messages: int | None = None) -> Received:
        """Frames until a close frame, the end of the stream, or *messages* data messages."""
        received = Received()
        fragments: list[bytes] = []
        opcode = 0
        while messages is None or len(received.messages) < messages:
            frame = self._frame()
            if isinstance(frame, str):
                received.end = frame
                return received
            fin, op, payload = frame
            if op == 8:
                received.close, received.end = payload, "close"
                return received
            if op == 9:
                continue
            if op == 10:
                received.pongs.append(payload)
                continue
            opcode = op or opcode
            fragments.append(payload)
            if fin:
                data = b"".join(fragments)
                received.messages.append(data.decode() if opcode == 1 else data)
                fragments = []
        return received

    def _frame(self) -> tuple[bool, int, bytes] | str:
        while True:
            if len(self.buffer) >= 2:
                length, start = self.buffer[1] & 0x7F, 2
                if length == 126 and len(self.buffer) >= 4:
                    length, start = struct.unpack("!H", self.buffer[2:4])[0], 4
                elif length == 127 and len(self.buffer) >= 10:
                    length, start = struct.unpack("!Q", self.buffer[2:10])[0], 10
                if (length < 126 or start > 2) and len(self.buffer) >= start + length:
                    first = self.buffer[0]
                    payload = self.buffer[start : start + length]
                    self.buffer = self.buffer[start + length :]
                    return bool(first & 0x80), first & 0x0F, payload
            ended = self._fill()
            if ended:
                return ended


def open_websocket(live: LiveServer, path: bytes = b"/ws/echo/") -> RawConnection:
    connection = RawConnection(live)
    status, _, ended = connection.handshake(
        handshake_request(path, [(b"Host", f"{live.host}:{live.port}".encode())])
    )
    assert status == 101, (status, ended)
    return connection


def close_frame(code: int = 1000) -> bytes:
    return encode_frame(WireFrame(8, code.to_bytes(2, "big")))


# Handshakes -------------------------------------------------------------------------------------


def _wire_value(value: bytes) -> bytes:
    """A header value a request can carry: one line, shorter than MAX_LINE."""
    return value.replace(b"\r", b"").replace(b"\n", b"")[:MAX_LINE]


def clearly_foreign(host: bytes) -> bool:
    lowered = host.decode("latin-1").lower()
    return not any(allowed in lowered for allowed in fs.ALLOWED_HOSTS)


def parser_may_refuse(value: bytes, server: str) -> bool:
    """Whether a header value has bytes HTTP forbids, or that the server reads as a line
    break (daphne splits lines at 0x85, NEL, too)."""
    if server == "daphne" and b"\x85" in value:
        return True
    return any((byte < 0x20 and byte != 0x09) or byte == 0x7F for byte in value)


def too_large(headers: list[tuple[bytes, bytes]], server: str) -> bool:
    """Whether the headers pass the server's size limit: 8 KiB a line for uvicorn
    (websockets answers 431), 16 KiB in all for daphne (Twisted answers 400)."""
    lines = [len(name) + len(value) + 4 for name, value in headers]
    return max(lines) > 8000 if server == "uvicorn" else sum(lines) > 16000


def _printable(value: bytes) -> bytes:
    """*value* without the control characters an HTTP parser refuses."""
    return bytes(byte for byte in value if (byte >= 0x20 and byte != 0x7F) or byte == 0x09)


def mostly_printable(values: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Two times in three, a value the server's parser lets through to the application."""
    return st.one_of(values.map(_printable), values.map(_printable), values)


@st.composite
def wire_handshakes(draw: st.DrawFn) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """A request target and the headers of a hostile (but websocket) handshake.

    Nine times in ten one part only is hostile, the rest what a browser sends, so
    that many handshakes get past the server's parser to the application.
    """
    parts = ["target", "query", "Host", "Origin", "X-Forwarded-Host", "Cookie"]
    parts += ["Content-Type", "Sec-WebSocket-Protocol", "extra"]
    focus = draw(st.sampled_from(["all", *parts]))

    def hostile(part: str) -> bool:
        return focus in ("all", part)

    target = fs.request_target(draw(st.sampled_from(fs.ROUTES)))
    if hostile("target"):
        target = draw(
            st.one_of(
                st.just(target),
                fs.paths(max_long=MAX_LINE).map(lambda p: fs.request_target("/" + p.lstrip("/"))),
                fs.paths(max_long=MAX_LINE).map(fs.request_target),  # not always origin-form
                fs.raw_targets,
            )
        )
    if hostile("query") and draw(st.booleans()):
        target += b"?" + fs.wire_query(draw(fs.query_strings))
    headers: list[tuple[bytes, bytes]] = []
    if not hostile("Host"):
        headers.append((b"Host", b"127.0.0.1"))
    for name, values, counts in [
        (b"Host", st.sampled_from([b"127.0.0.1", b"localhost:80"]) | fs.hosts, [0, 1, 1, 1]),
        (b"Origin", st.one_of(st.just(b"http://localhost"), fs.origins), [0, 1]),
        (b"X-Forwarded-Host", fs.forwarded_hosts, [0, 1, 2]),
        (b"Cookie", fs.cookie_headers, [0, 1, 2]),
        (b"Content-Type", fs.content_types, [0, 1]),
        # (Mostly malformed: the servers refuse them with 400. More in the subprotocol test.)
        (b"Sec-WebSocket-Protocol", fs.subprotocol_lists.map(fs.subprotocol_header), [0, 0, 1]),
    ]:
        if hostile(name.decode()):
            count = draw(st.sampled_from(counts))
            headers += [(name, _wire_value(draw(mostly_printable(values)))) for _ in range(count)]
    if hostile("extra"):
        names = st.one_of(
            st.sampled_from([n for n in fs.KNOWN_HEADER_NAMES if n not in (b"host", b"origin")]),
            fs.token_names.filter(lambda n: n not in (b"host", b"origin")),
        )
        values = mostly_printable(fs.header_values).map(_wire_value)
        headers += draw(st.lists(st.tuples(names, values), max_size=5))
    return target[:MAX_LINE], draw(st.permutations(headers))[:MAX_HEADERS]


# What a view sends once it accepted: "ends" if it then closes by itself, else how
# many messages before it waits for the client.
AFTER_ACCEPT: dict[Any, int | str] = {
    ws_views.describe: "ends",
    ws_views.positional: "ends",
    ws_views.empty_messages: "ends",
    ws_views.return_without_closing: "ends",
    ws_views.push: 3,
    security_views.whoami: 1,
    security_views.describe_request: "ends",
    security_views.count_visit_before_accept: "ends",
}


def after_accept(target: bytes) -> int | str:
    match = routing.resolve(unquote(target.split(b"?", 1)[0].decode("latin-1")))
    return AFTER_ACCEPT.get(match.func if match else None, 0)


def declares_a_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the request says a body follows: the server then rightly waits for it."""
    for name, value in headers:
        name = name.lower()
        if name == b"content-length" and value.strip().isdigit() and int(value) > 0:
            return True
        if name == b"transfer-encoding" and value.split(b",")[-1].strip().lower() == b"chunked":
            return True
    return False


@fs.fuzz_settings(150)
@given(request=wire_handshakes())
def test_hostile_handshakes_get_a_documented_answer(
    batch: Server, request: tuple[bytes, list[tuple[bytes, bytes]]]
) -> None:
    """101, a 4xx, or a closed connection; never a 5xx, never silence. A foreign Host or
    Origin is never accepted, and an accepted connection ends with a documented code."""
    target, headers = request
    assume(not declares_a_body(headers))
    with RawConnection(batch.live) as connection:
        status, _, ended = connection.handshake(handshake_request(target, headers))
        assert ended != "timeout", f"no answer within {TIMEOUT} s"
        event(f"{batch.name}: {status or 'closed without a response'}")
        if status is None:
            return
        assert status == 101 or 400 <= status < 500
        if status != 101:
            return
        hosts = [v for n, v in headers if n == b"Host"]
        origins = [v for n, v in headers if n == b"Origin"]
        assert not any(clearly_foreign(host) for host in hosts)
        assert not (
            hosts in ([b"127.0.0.1"], [b"localhost:80"])
            and any(clearly_foreign(o) for o in origins)
        )
        plan = after_accept(target)
        if plan != "ends":
            # Close only once the view has sent what it planned and waits for the client.
            received = connection.read(messages=plan)
            assert received.end == "", received
            connection.send(close_frame())
        received = connection.read()
    assert received.end == "close", received
    assert received.close_code in CLOSE_CODES


@fs.fuzz_settings(40)
@given(
    path=st.sampled_from([b"/ws/whoami/", b"/ws/members/", b"/ws/visit/"]),
    cookies=st.lists(fs.cookie_headers.map(_wire_value), min_size=1, max_size=2),
)
def test_forged_and_malformed_cookies_never_authenticate(
    batch: Server, path: bytes, cookies: list[bytes]
) -> None:
    """An unknown, malformed or huge session cookie gives an anonymous user, and never
    a session the client chose."""
    headers = [(b"Host", b"localhost"), *((b"Cookie", cookie) for cookie in cookies)]
    with RawConnection(batch.live) as connection:
        status, response_headers, ended = connection.handshake(handshake_request(path, headers))
        event(f"{batch.name}: {status or ended}")
        if status in (None, 400, 431):  # the server's HTTP parser refused the cookies
            assert any(parser_may_refuse(c, batch.name) for c in cookies) or too_large(
                headers, batch.name
            )
            return
        if path == b"/ws/members/":
            assert status == 403
            return
        assert status == 101
        received = connection.read(messages=1)
        connection.send(close_frame())
    seen = json.loads(received.messages[0])
    if path == b"/ws/whoami/":
        assert seen == {"username": "", "authenticated": False, "session_key": None, "visits": 0}
    else:
        assert seen == {"visits": 1}
        new_key = response_headers[b"set-cookie"].split(b";")[0].removeprefix(b"sessionid=")
        assert len(new_key) == 32 and new_key not in b"".join(cookies)


@fs.fuzz_settings(40)
@given(offers=st.lists(fs.subprotocol_lists.map(fs.subprotocol_header), min_size=1, max_size=2))
def test_subprotocol_lists_are_accepted_as_offered_or_refused_by_the_server(
    batch: Server, offers: list[bytes]
) -> None:
    """The describe view accepts the first offered subprotocol: the response names it, or the
    server refused the malformed header itself (4xx)."""
    offers = [_wire_value(offer) for offer in offers]
    headers = [(b"Host", b"localhost"), *((b"Sec-WebSocket-Protocol", o) for o in offers)]
    with RawConnection(batch.live) as connection:
        status, response_headers, ended = connection.handshake(
            handshake_request(b"/ws/describe/1/", headers)
        )
        event(f"{batch.name}: {status or ended}")
        assert status is not None, ended
        if status != 101:
            assert 400 <= status < 500
            return
        received = connection.read()
    first = offers[0].split(b",")[0].strip()
    assert response_headers.get(b"sec-websocket-protocol", b"") == first
    assert json.loads(received.messages[0])["url_kwargs"] == {"number": 1}
    assert received.close_code == 1000


# Frames -----------------------------------------------------------------------------------------


# The close codes autobahn (daphne) takes from a client: not 1014, which it reads as a
# protocol error.
AUTOBAHN_CLOSE_CODES = tuple(code for code in fs.VALID_CLOSE_CODES if code != 1014)


@dataclass
class Step:
    """What a correct server does on receiving one frame (RFC 6455)."""

    index: int  # of the frame
    kind: str  # echo | pong | utf8 (invalid text: 1007) | violation | close (the client's)
    value: Any = None  # the echoed message, the pong payload
    codes: frozenset[int | None] = frozenset()  # the close codes the server may answer with


def _valid_utf8_prefix(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError as exc:
        return exc.reason == "unexpected end of data"
    return True


def rfc_6455_steps(frames: list[WireFrame], server: str) -> list[Step]:
    """The reactions frame by frame, up to the first error the frame parser must stop at."""
    steps: list[Step] = []
    message: tuple[int, bytes] | None = None  # a fragmented message in progress

    def stop(index: int, *codes: int | None, kind: str = "violation") -> None:
        steps.append(Step(index, kind, codes=frozenset(codes)))

    for i, frame in enumerate(frames):
        if not frame.masked or frame.rsv or frame.opcode in fs.RESERVED_OPCODES:
            stop(i, 1002)
            break
        if frame.length >= 2**63:
            stop(i, 1002, 1009)
            break
        if frame.length_field is not None and server == "daphne":
            stop(i, 1002)  # autobahn insists on the minimal length encoding
            break
        if frame.opcode >= 8:
            if not frame.fin or frame.length > 125:
                stop(i, 1002)
                break
            if frame.opcode == 9:
                steps.append(Step(i, "pong", frame.payload))
            elif frame.opcode == 8:
                steps.append(_client_close(i, frame.payload, server))
                break
            continue
        if frame.length + (len(message[1]) if message else 0) > fs.MAX_MESSAGE_SIZE:
            stop(i, 1009)
            break
        if (frame.opcode == 0) == (message is None):
            stop(i, 1002)  # nothing to continue, or a new message inside one
            break
        opcode, data = message if message else (frame.opcode, b"")
        data += frame.payload
        message = None if frame.fin else (opcode, data)
        if opcode == 1 and not _valid_utf8_prefix(data) and server == "daphne":
            stop(i, 1007, kind="utf8")  # autobahn validates UTF-8 frame by frame
            break
        if frame.fin:
            try:
                steps.append(Step(i, "echo", data.decode() if opcode == 1 else data))
            except UnicodeDecodeError:
                # uvicorn decodes a text message once its frames are parsed: the parser
                # goes on meanwhile, so later frames may answer first.
                stop(i, 1007, kind="utf8")
    return steps


def _client_close(index: int, payload: bytes, server: str) -> Step:
    if len(payload) == 1:
        return Step(index, "close", codes=frozenset({1002}))
    if not payload:
        return Step(index, "close", codes=frozenset({None, 1000}))  # empty answered, or 1000
    code = int.from_bytes(payload[:2], "big")
    valid = fs.VALID_CLOSE_CODES if server == "uvicorn" else AUTOBAHN_CLOSE_CODES
    if code not in valid and not 3000 <= code <= 4999:
        return Step(index, "close", codes=frozenset({1002}))
    try:
        payload[2:].decode()
    except UnicodeDecodeError:
        return Step(index, "close", codes=frozenset({1007}))
    return Step(index, "close", codes=frozenset({code, 1000}))  # echoed, or answered with 1000


@dataclass
class Reaction:
    echoes: list[str | bytes] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    close: frozenset[int | None] | None = None  # None: the connection stays open
    last: int | None = None  # the frame after which the server closes


def expected_reaction(steps: list[Step], server: str, burst: bool) -> Reaction:
    """What the client must see, all frames sent in one write (*burst*) or one by one."""
    reaction = Reaction()
    late = server == "uvicorn" and burst  # uvicorn checks UTF-8 after parsing the whole write
    invalid_text: Step | None = None
    ending: Step | None = None
    for step in steps:
        if step.kind == "echo":
            if invalid_text is None:
                reaction.echoes.append(step.value)
        elif step.kind == "pong":
            reaction.pongs.append(step.value)
        elif step.kind == "utf8" and late:
            invalid_text = invalid_text or step
        else:
            ending = step
            break
    if invalid_text is not None:
        # A close frame from the client in the same write is answered first.
        codes = invalid_text.codes | (ending.codes if ending else frozenset())
        ending = Step(invalid_text.index, "utf8", codes=codes)
    if ending is None:
        return reaction
    reaction.close, reaction.last = ending.codes, ending.index
    return reaction


def _prefix(sent: list[Any], expected: list[Any]) -> bool:
    return sent == expected[: len(sent)]


@fs.fuzz_settings(150)
@given(frames=fs.frame_sequences, burst=st.booleans())
def test_hostile_frames_end_with_the_close_code_rfc_6455_asks_for(
    batch: Server, frames: list[WireFrame], burst: bool
) -> None:
    """Valid messages are echoed and pings answered until the first violation, which
    closes the connection with 1002 (protocol), 1007 (invalid UTF-8) or 1009 (too big);
    a client's close frame is answered with a close frame. The frames go out in one
    write (*burst*), or one by one with each echo awaited."""
    steps = rfc_6455_steps(frames, batch.name)
    reaction = expected_reaction(steps, batch.name, burst)
    received = Received()
    with open_websocket(batch.live) as connection:
        if burst:
            connection.send(b"".join(encode_frame(frame) for frame in frames))
            if reaction.close is None:
                received = connection.read(messages=len(reaction.echoes))
        else:
            last = reaction.last if reaction.last is not None else len(frames) - 1
            for index, frame in enumerate(frames[: last + 1]):
                connection.send(encode_frame(frame))
                if any(s.index == index and s.kind == "echo" for s in steps) and index != last:
                    got = connection.read(messages=1)
                    received.messages += got.messages
                    received.pongs += got.pongs
            if reaction.close is None:
                got = connection.read(messages=len(reaction.echoes) - len(received.messages))
                received.messages += got.messages
                received.pongs += got.pongs
        if reaction.close is None:
            assert received.messages == reaction.echoes
            connection.send(close_frame())
            expected_close: frozenset[int | None] = frozenset({1000})
        else:
            expected_close = reaction.close
        closing = connection.read()
    received.messages += closing.messages
    received.pongs += closing.pongs
    event(f"{batch.name}: {closing.end} {closing.close_code}")
    assert _prefix(received.messages, reaction.echoes)
    assert _prefix(received.pongs, reaction.pongs)
    assert closing.end == "close", closing
    assert closing.close_code in expected_close


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


@fs.fuzz_settings(12)
@given(message=fs.near_limit_messages.filter(lambda m: isinstance(m, bytes) or _utf8(m)))
def test_messages_around_the_size_limit_are_echoed_or_closed_with_1009(
    batch: Server, message: str | bytes
) -> None:
    """Up to WEBSOCKET_MAX_MESSAGE_SIZE bytes (UTF-8 for text) is echoed; one more closes 1009."""
    with connect(batch.live.url + "/ws/echo/", max_size=None) as ws:
        ws.send(message)
        try:
            reply: Any = ws.recv(timeout=TIMEOUT)
        except ConnectionClosed as closed:
            reply = closed.rcvd.code if closed.rcvd else None
    if fs.encoded_size(message) > fs.MAX_MESSAGE_SIZE:
        assert reply == 1009
    else:
        assert reply == message


@fs.fuzz_settings(50)
@given(texts=st.lists(fs.json_garbage.filter(_utf8), min_size=1, max_size=3))
def test_json_garbage_is_echoed_if_valid_and_closes_with_1007_if_not(
    batch: Server, texts: list[str]
) -> None:
    """The JSON view echoes JSON documents and closes with 1007 on the first malformed one."""
    with connect(batch.live.url + "/ws/fuzz/json/") as ws:
        for text in texts:
            ws.send(text)
            try:
                reply = ws.recv(timeout=TIMEOUT)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 1007
                with pytest.raises(ValueError):
                    json.loads(text)
                return
            assert fs.canonical_json(reply) == fs.canonical_json(text)


# Found by fuzzing, in the servers themselves; the adapters handle them ------------------------


@contextmanager
def log_written(server: Server) -> Iterator[int]:
    """Yields where the server's log starts; on leaving, waits until it has been quiet
    for 1.2 s (daphne reports an exception that escaped the application up to a second
    later), so that whatever the test caused is in the log."""
    start = len(server.live.log())
    try:
        yield start
    finally:
        deadline = time.monotonic() + 4.0
        length, quiet_since = len(server.live.log()), time.monotonic()
        while time.monotonic() - quiet_since < 1.2 and time.monotonic() < deadline:
            time.sleep(0.05)
            if len(server.live.log()) != length:
                length, quiet_since = len(server.live.log()), time.monotonic()


def test_found_an_oversized_handshake_is_answered_in_time(server: Server) -> None:
    """A request line or header past 8 KiB, or 129 headers, gets a 4xx or a closed connection
    within the timeout, not an open socket forever (plain uvicorn never answers)."""
    requests = [
        handshake_request(b"/ws/echo/" + b"a" * 9000, [(b"Host", b"localhost")]),
        handshake_request(b"/ws/echo/", [(b"Host", b"localhost"), (b"X-Big", b"v" * 9000)]),
        handshake_request(
            b"/ws/echo/", [(b"Host", b"localhost")] + [(b"X-%d" % i, b"v") for i in range(129)]
        ),
    ]
    connections = [RawConnection(server.live, timeout=1.0) for _ in requests]
    try:
        endings = []
        for connection, raw in zip(connections, requests, strict=True):
            status, _, ended = connection.handshake(raw)
            endings.append(status or ended)
    finally:
        for connection in connections:
            connection.sock.close()
    assert "timeout" not in endings, endings
    # uvicorn refuses them (414, 431); daphne's limits are higher.
    assert all(ending in ("", 101) or 400 <= ending < 500 for ending in endings), endings


def test_found_invalid_utf8_in_a_text_frame_closes_with_1007_and_logs_no_traceback(
    server: Server,
) -> None:
    """Invalid UTF-8 from a client is its error: close 1007, and no traceback in the log
    (plain uvicorn logs one)."""
    with log_written(server) as start, open_websocket(server.live) as connection:
        connection.send(encode_frame(WireFrame(1, b"\xed\xa0\x80")))
        received = connection.read()
    assert received.close_code == 1007
    assert "Traceback" not in server.live.log()[start:]


@pytest.mark.parametrize(
    ("payload", "codes"),
    [
        (b"\x03", {"uvicorn": 1002, "daphne": 1002}),
        (b"\x03\xed", {"uvicorn": 1002, "daphne": 1002}),
        (b"\x03\xe8\xff", {"uvicorn": 1007, "daphne": 1007}),
        ((1014).to_bytes(2, "big"), {"uvicorn": 1014, "daphne": 1002}),
        (b"\x03\xe8" + b"x" * 124, {"uvicorn": 1002, "daphne": 1002}),
    ],
    ids=["one byte", "code 1005", "reason not UTF-8", "code 1014", "over 125 bytes"],
)
def test_found_an_invalid_close_frame_is_answered_with_a_close_frame(
    server: Server, payload: bytes, codes: dict[str, int]
) -> None:
    """A client's invalid close frame is a protocol error the server reports with 1002 or
    1007 in a close frame before dropping the connection (plain daphne drops it at once).
    uvicorn takes 1014 from a client, and echoes it."""
    with open_websocket(server.live) as connection:
        connection.send(encode_frame(WireFrame(8, payload)))
        received = connection.read()
    assert (received.end, received.close_code) == ("close", codes[server.name]), received


def test_found_invalid_utf8_then_a_close_frame_is_answered_with_a_close_frame(
    server: Server,
) -> None:
    """An invalid text frame and a close frame in one write: a close frame comes back,
    and the server logs no error (plain uvicorn's close raises there)."""
    frames = [WireFrame(1, b"\x80"), WireFrame(8, (1000).to_bytes(2, "big"))]
    with log_written(server) as start, open_websocket(server.live) as connection:
        connection.send(b"".join(encode_frame(frame) for frame in frames))
        received = connection.read()
    assert (received.end, received.close_code in (1000, 1007)) == ("close", True)
    assert "Traceback" not in server.live.log()[start:]


@pytest.mark.parametrize(
    "second",
    [WireFrame(1, b"\x80"), WireFrame(8, (1000).to_bytes(2, "big"))],
    ids=["server closes (1007)", "client closes"],
)
def test_found_a_view_sending_after_the_connection_closed_logs_no_error(
    server: Server, second: WireFrame
) -> None:
    """A message, then in the same write an invalid one (the server closes with 1007) or a
    close frame: the echo view answers the first after the close. That send must end the
    view quietly, as sending to a client who left does (ASGI: an OSError), not as an
    internal error; nor may the handler's closing send raise."""
    frames = [WireFrame(1, b"first"), second]
    with log_written(server) as start, open_websocket(server.live) as connection:
        connection.send(b"".join(encode_frame(frame) for frame in frames))
        received = connection.read()
    assert received.end == "close"
    log = server.live.log()[start:]
    assert "Internal error in websocket view" not in log
    assert "Exception in ASGI application" not in log
    assert "Exception inside application" not in log


def test_found_a_non_ascii_subprotocol_offer_is_refused_with_a_4xx(server: Server) -> None:
    """A Sec-WebSocket-Protocol header with bytes past ASCII is the client's error: a 4xx
    (or the offer passed through), never a 500 or a traceback (plain daphne answers 500)."""
    headers = [(b"Host", b"localhost"), (b"Sec-WebSocket-Protocol", b"caf\xc3\xa9")]
    with log_written(server) as start, RawConnection(server.live) as connection:
        status, _, ended = connection.handshake(handshake_request(b"/ws/describe/1/", headers))
    assert status is not None and (status == 101 or 400 <= status < 500), (status, ended)
    assert "Traceback" not in server.live.log()[start:]


def test_found_a_handshake_with_a_bad_transfer_encoding_is_refused(server: Server) -> None:
    """Transfer-Encoding without chunked last makes the body length unknowable: RFC 9112
    asks for a 400 (as both servers answer a plain HTTP request), not an endless wait
    (plain uvicorn never answers)."""
    headers = [(b"Host", b"localhost"), (b"Transfer-Encoding", b"Z")]
    with RawConnection(server.live, timeout=2.0) as connection:
        status, _, ended = connection.handshake(handshake_request(b"/ws/echo/", headers))
    assert (status, ended) == (400, "")


# The end ------------------------------------------------------------------------------------------


def tracebacks(server: Server) -> list[str]:
    """The tracebacks in the server's log, each with the lines around it."""
    lines = server.live.log().splitlines()
    return [
        "\n".join(lines[max(0, number - 3) : number + 30])
        for number, line in enumerate(lines)
        if line.startswith("Traceback")
    ]


def test_the_server_is_left_clean_after_fuzzing(server: Server) -> None:
    """No task, websocket object or socket more than before, and no traceback."""
    assert_echo_works(server.live)
    deadline = time.monotonic() + 10
    keys = ("tasks", "websockets", "sockets")
    while True:
        report = diagnostics(server.live)
        if all(report[k] == server.baseline[k] for k in keys) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert report["tasks"] == server.baseline["tasks"]
    assert report["websockets"] == 0
    assert report["sockets"] == server.baseline["sockets"]
    found = tracebacks(server)
    assert not found, "\n\n".join(found)
    assert server.live.process.poll() is None, "the server died"
