"""Hypothesis strategies for hostile websocket input, shared by tests.test_fuzz (in process)
and tests.test_fuzz_e2e (real servers over raw sockets).

What a client controls in a handshake: the path, the query string, the headers
(Host, Origin, X-Forwarded-Host, Cookie, Sec-WebSocket-Protocol, anything else);
and after it: the messages (text, bytes, JSON-ish text, sizes around
WEBSOCKET_MAX_MESSAGE_SIZE). Each strategy mixes hand-picked nasty values with
generated ones, so that a few hundred examples reach the interesting corners.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# tests.settings
ALLOWED_HOSTS = ("testserver", "127.0.0.1", "localhost")
MAX_MESSAGE_SIZE = 1024 * 1024  # WEBSOCKET_MAX_MESSAGE_SIZE's default
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000  # Django's default

# Routes of tests.ws_urls whose views may meet hostile input. Left out on
# purpose: views that fail by design (fail-*, raise-*), views that trust their
# URL (login/<username> raises DoesNotExist, close/<code> raises ValueError for
# a code no endpoint may send), and slow-handshake (waits out the 10 s timeout).
ROUTES = (
    "/ws/echo/",
    "/ws/ping/",
    "/ws/describe/1/",
    "/ws/caf\u00e9/",
    "/ws/year/2024/",
    "/ws/chat/lobby/",
    "/ws/rooms/lobby/",
    "/ws/empty/",
    "/ws/push/",
    "/ws/notes/",
    "/ws/refuse/",
    "/ws/refuse-on-connect/",
    "/ws/return-without-closing/",
    "/ws/return-without-accepting/",
    "/ws/counter/",
    "/ws/text-only/",
    "/ws/bytes-only/",
    "/ws/whoami/",
    "/ws/request/",
    "/ws/visit/",
    "/ws/members/",
    "/ws/note-writers/",
    "/ws/staff/",
    "/ws/members-view/",
    "/ws/fuzz/json/",
    "/ws/nowhere/",
    "/",
)
# Routes that read the query string (websocket.GET or request.GET).
ROUTES_READING_GET = ("/ws/describe/", "/ws/caf\u00e9/", "/ws/chat/", "/ws/rooms/", "/ws/request/")


def fuzz_settings(max_examples: int, **overrides: Any) -> settings:
    """Reproducible settings: derandomized, no example database, no deadline."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
        **overrides,
    )


# Characters ---------------------------------------------------------------------

# Any code point, lone surrogates and control characters included (an ASGI
# scope is Python text: an in-process caller can put anything in it).
any_char = st.one_of(
    st.characters(codec=None),
    st.characters(categories=["Cs"]),
    st.characters(categories=["Cc"]),
    st.sampled_from("\x00\t\r\n /\\%?#;.~\u202e\ufeff\u2100\uff0f"),
)
latin1_char = st.characters(codec="latin-1")
# What may appear unescaped in a request line; "%" too, for broken escapes.
TARGET_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%"


def percent_escapes(max_size: int = 6) -> st.SearchStrategy[str]:
    """``%XX`` sequences of arbitrary bytes: invalid UTF-8, NUL, slashes, dots."""
    return st.binary(min_size=1, max_size=max_size).map(
        lambda raw: "".join(f"%{byte:02X}" for byte in raw)
    )


# Paths ------------------------------------------------------------------------------

ODD_SEGMENTS = (
    "",
    ".",
    "..",
    "...",
    "%2e%2e",
    "%2E%2e%2F",
    "%2F",
    "%00",
    "%",
    "%z",
    "%zz",
    "%C3%A9",
    "%ED%A0%80",  # a UTF-8 encoded surrogate: invalid UTF-8
    "%FF",
    "\x00",
    "\x01",
    "\t",
    "\r\n",
    " ",
    ";",
    ";a=b",
    "\\",
    "~",
    "\u202e",
    "\ud800",
    "\udfff",
    "\u00e9",
    "e\u0301",
    "\ufb01",
    "\U0001d54f",
    "\uff0fws",
    "0" * 5000,  # an <int:...> converter meets Python's int() digit limit
    "9" * 40,
)


def _join_path(base: str, segments: list[str], how: str) -> str:
    if how == "append":
        return base + "/".join(segments)
    if how == "prefix":
        return "/" + "/".join(segments) + base
    if how == "replace-last":
        head = base.rstrip("/").rsplit("/", 1)[0]
        return head + "/" + "/".join(segments) + "/"
    if how == "double-slash":
        return base.replace("/", "//", 1 + len(segments) % 3)
    if how == "no-leading-slash":
        return base.lstrip("/") + "/".join(segments)
    raise AssertionError(how)


segment = st.one_of(
    st.sampled_from(ODD_SEGMENTS),
    st.text(TARGET_CHARS, max_size=12),
    st.text(any_char, max_size=8),
    percent_escapes(),
)


def paths(max_long: int = 20_000) -> st.SearchStrategy[str]:
    """Decoded paths, as an ASGI scope's ``path``: routes, mangled routes, noise, very long."""
    return st.one_of(
        st.sampled_from(ROUTES),
        st.builds(
            _join_path,
            st.sampled_from(ROUTES),
            st.lists(segment, min_size=1, max_size=4),
            st.sampled_from(
                ["append", "prefix", "replace-last", "double-slash", "no-leading-slash"]
            ),
        ),
        st.text(any_char, max_size=40),
        st.builds(
            lambda base, char, count: base + char * count,
            st.sampled_from(ROUTES),
            st.sampled_from(["a", "/", "%", "\u00e9", "\x00", "../", "\ud800"]),
            st.integers(1000, max_long),
        ),
    )


def request_target(path: str, query: bytes | None = None) -> bytes:
    """*path* percent-encoded for a request line (surrogates as their CESU-8 bytes)."""
    encoded = quote(path.encode("utf-8", "surrogatepass"), safe=TARGET_CHARS)
    target = encoded.encode("ascii")
    if query is not None:
        target += b"?" + query
    return target


# Raw bytes a client may put straight into a request target, which the server's
# HTTP parser must reject (or decode somehow).
RAW_TARGET_BYTES = (
    b"\x00",
    b"\x01",
    b"\x7f",
    b"\x80",
    b"\xff",
    b"\xc3\xa9",
    b" ",
    b"\t",
    b'"',
    b"<",
)

raw_targets = st.builds(
    lambda base, raw, where: (
        request_target(base)[:where] + raw + request_target(base)[where:]
        if where >= 0
        else raw + request_target(base)
    ),
    st.sampled_from(ROUTES),
    st.sampled_from(RAW_TARGET_BYTES),
    st.integers(-1, 12),
)


# Query strings ---------------------------------------------------------------------

query_strings = st.one_of(
    st.binary(max_size=64),  # invalid UTF-8 included
    st.lists(
        st.tuples(st.text(any_char, max_size=6), st.text(any_char, max_size=6)), max_size=5
    ).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [b"q=1", b"q", b"=", b"&&&", b"q=%ff", b"q=%", b"q=%00", b"q=\xff", b"a;b", b"q=1#f"]
    ),
    st.integers(1, 1500).map(lambda n: b"&".join([b"q=1"] * n)),  # DATA_UPLOAD_MAX_NUMBER_FIELDS
    st.integers(1000, 50_000).map(lambda n: b"q=" + b"x" * n),
)


def wire_query(raw: bytes) -> bytes:
    """*raw* percent-encoded where a request line could not carry it."""
    return quote(raw, safe=TARGET_CHARS + "?").encode("ascii")


# Header values and names ---------------------------------------------------------------

HOST_VALUES = (
    b"testserver",
    b"TESTSERVER",
    b"testserver.",
    b"testserver:80",
    b"testserver:0",
    b"testserver:99999",
    b"testserver:-1",
    b"testserver:",
    b"testserver:abc",
    b"127.0.0.1",
    b"127.0.0.1:8000",
    b"127.0.0.1.",
    b"localhost",
    b"LocalHost:1",
    b"[::1]",
    b"[::1]:80",
    b"::1",
    b"[::1",
    b"",
    b" ",
    b" testserver",
    b"testserver ",
    b"evil.example",
    b"testserver.evil.example",
    b"evil.example#testserver",
    b"testserver@evil.example",
    b"evil.example/testserver",
    b"testserver,evil.example",
    b"evil.example,testserver",
    b"t\xe9stserver",
    b"testserver\x00",
    b"*",
    b".",
    b"0x7f.1",
    b"2130706433",
    b"a" * 300,
)
ORIGIN_VALUES = (
    b"null",
    b"",
    b"http://testserver",
    b"https://testserver",
    b"HTTP://TESTSERVER",
    b"http://testserver/",
    b"http://testserver:8000",
    b"http://localhost:1",
    b"http://127.0.0.1",
    b"ws://testserver",
    b"file://",
    b"http://",
    b"http://[::1",
    b"http://[v1.x]",
    b"http://evil.example",
    b"http://testserver.evil.example",
    b"http://evil.example@testserver",
    b"http://testserver@evil.example",
    b"http://evil.example#testserver",
    b"chrome-extension://testserver",
    b"http://t\xe9stserver",
    b"http://\xef\xbc\x8ftestserver",
    b"http://testserver\x00",
    b" http://testserver ",
)
FORWARDED_HOST_VALUES = (*HOST_VALUES, b"testserver, evil.example", b"evil.example, testserver")


def _allowed_with_suffix(suffix: bytes) -> st.SearchStrategy[bytes]:
    return st.sampled_from([host.encode() + suffix for host in ALLOWED_HOSTS])


header_text = st.text(latin1_char, max_size=30).map(lambda text: text.encode("latin-1"))
hosts = st.one_of(
    st.sampled_from(HOST_VALUES),
    header_text,
    st.binary(max_size=20),
    st.binary(max_size=8).flatmap(_allowed_with_suffix),
)
origins = st.one_of(
    st.sampled_from(ORIGIN_VALUES),
    st.builds(lambda host: b"http://" + host, hosts),
    header_text,
)
forwarded_hosts = st.one_of(st.sampled_from(FORWARDED_HOST_VALUES), hosts)

# Names of headers that the package or Django read, and some that nothing should.
KNOWN_HEADER_NAMES = (
    b"host",
    b"origin",
    b"x-forwarded-host",
    b"x-forwarded-proto",
    b"x-forwarded-for",
    b"forwarded",
    b"cookie",
    b"sec-websocket-protocol",
    b"sec-websocket-extensions",
    b"user-agent",
    b"content-type",
    b"content-length",
    b"transfer-encoding",
    b"authorization",
    b"accept-language",
    b"x_forwarded_host",  # Django drops underscored names
    b"http-host",
)
token_names = st.text(
    string.ascii_lowercase + string.digits + "!#$%&'*+-.^_`|~", min_size=1, max_size=20
).map(str.encode)
header_values = st.one_of(
    header_text,
    st.binary(max_size=40),
    st.sampled_from(
        [b"", b" ", b",", b";", b"=", b"\x00", b"\xff", b'"', b"%00", b"a, b", b"*/*", b"0", b"-1"]
    ),
    st.integers(1000, 100_000).map(lambda n: b"v" * n),  # huge
)
# Content-Type values: a handshake has no body, but Django parses the header.
content_types = st.one_of(
    st.sampled_from(
        [
            b"text/plain",
            b"text/plain; charset=utf-8",
            b"text/plain; charset=bogus",
            b"text/plain; charset*=utf-8''%41",
            b"text/plain; charset*=bogus''x",
            b"text/plain; charset*=utf-8''%00",
            b"multipart/form-data; boundary=",
            b";;;",
        ]
    ),
    header_values,
)


def _cookie_header(pairs: list[tuple[str, str]], separator: str) -> bytes:
    return separator.join(f"{name}={value}" for name, value in pairs).encode("latin-1")


cookie_names = st.one_of(
    st.sampled_from(["sessionid", "SESSIONID", " sessionid", "sessionid ", "csrftoken", ""]),
    st.text(latin1_char, max_size=8),
)
session_ids = st.one_of(
    st.text(string.ascii_lowercase + string.digits, min_size=32, max_size=32),  # well formed
    st.text(latin1_char, max_size=50),
    st.sampled_from(["", "x", "1234567", '"quoted"', "a;b", "%00", "\x00" * 40, "null"]),
    st.integers(41, 10_000).map(lambda n: "s" * n),
)
cookie_pairs = st.tuples(cookie_names, st.one_of(session_ids, st.text(latin1_char, max_size=12)))
cookie_headers = st.one_of(
    st.builds(
        _cookie_header,
        st.lists(cookie_pairs, max_size=6),
        st.sampled_from(["; ", ";", ",", " ; ", ";;"]),
    ),
    st.builds(lambda key: f"sessionid={key}".encode("latin-1"), session_ids),
    header_values,
    st.integers(50, 3000).map(  # many cookies
        lambda n: "; ".join(f"c{i}={i}" for i in range(n)).encode() + b"; sessionid=0" * 4
    ),
)

# Subprotocol lists, as the scope carries them (the server split the header).
subprotocol_tokens = st.one_of(
    st.sampled_from(["", " ", "chat", "chat", "a,b", " chat ", "a b", "\x00", "\u00e9", "*"]),
    st.text(string.ascii_letters + string.digits + "-._", max_size=12),
    st.text(any_char, max_size=6),
)
subprotocol_lists = st.one_of(
    st.lists(subprotocol_tokens, max_size=8),
    st.integers(100, 3000).map(lambda n: [f"p{i % 50}" for i in range(n)]),  # huge, with duplicates
)


def subprotocol_header(tokens: list[str]) -> bytes:
    return ", ".join(tokens).encode("utf-8", "surrogatepass")


# Messages ---------------------------------------------------------------------------

text_messages = st.one_of(
    st.text(max_size=200),
    st.text(any_char, max_size=50),  # lone surrogates: only in process
    st.sampled_from(["", "\x00", "\ufeff", "\ud800", "\udbff\udc00", "a" * 70_000]),
)
byte_messages = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"", b"\x00", b"\xff" * 3, b"\xed\xa0\x80", bytes(70_000)]),
)
# One unit of each width in UTF-8 (surrogates count 3 bytes with surrogatepass).
WIDE_CHARS = ("a", "\u00e9", "\u20ac", "\U0001f600", "\ud800")


def sized_text(char: str, size: int) -> str:
    """A text whose UTF-8 encoding is exactly *size* bytes, mostly *char*."""
    width = len(char.encode("utf-8", "surrogatepass"))
    return char * (size // width) + "a" * (size % width)


near_limit_messages = st.builds(
    lambda kind, delta: (
        bytes(MAX_MESSAGE_SIZE + delta)
        if kind == "bytes"
        else sized_text(kind, MAX_MESSAGE_SIZE + delta)
    ),
    st.sampled_from(["bytes", *WIDE_CHARS]),
    st.sampled_from([-1, 0, 1, 7]),
)


def encoded_size(message: str | bytes) -> int:
    if isinstance(message, bytes):
        return len(message)
    return len(message.encode("utf-8", "surrogatepass"))


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=10),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=12,
)
JSON_ODDITIES = (
    "",
    " ",
    "{",
    "[",
    "]",
    "nul",
    "NaN",
    "-Infinity",
    "1e999",
    "-0",
    "01",
    "1.",
    ".5",
    "0x10",
    '"\\ud800"',
    '"\\u00"',
    '"\x00"',
    '{"a":}',
    '{"a" 1}',
    "[1,]",
    "{'a': 1}",
    "\ufeff{}",
    "{} {}",
    " {} ",
    "1" * 5000,  # beyond int()'s digit limit: ValueError
    "[" * 50 + "]" * 50,
    '{"add": 1}',
    '{"add": "1"}',
)


def _mutate(text: str, position: int, insert: str, cut: bool) -> str:
    position = position % (len(text) + 1)
    return text[:position] if cut else text[:position] + insert + text[position:]


json_documents = json_values.map(json.dumps)
json_garbage = st.one_of(
    json_documents,
    st.builds(
        _mutate,
        json_documents,
        st.integers(0, 200),
        st.sampled_from(['"', ",", "}", "]", "\\", "\x00", "NaN", ":", "\ud800"]),
        st.booleans(),
    ),
    st.sampled_from(JSON_ODDITIES),
    st.text(max_size=30),
)


def is_malformed_json(text: str) -> bool:
    """Whether a JSON view must close with 1007 on *text* (too deep to parse counts)."""
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return True
    return False


# Texts that are not JSON at all.
malformed_json = st.one_of(
    st.sampled_from([text for text in JSON_ODDITIES if is_malformed_json(text)]),
    st.builds(_mutate, json_documents, st.integers(0, 200), st.just(""), st.just(True)).filter(
        is_malformed_json
    ),
)


def canonical_json(text: str | bytes) -> str:
    """One spelling per JSON value (NaN included, which never equals itself)."""
    return json.dumps(json.loads(text), sort_keys=True)


# Frames (the end-to-end tests send them over raw sockets) ----------------------------------

RESERVED_OPCODES = (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)
# Close codes a client may send (RFC 6455 7.4), and some it may not.
VALID_CLOSE_CODES = (
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
    3000,
    4999,
)
INVALID_CLOSE_CODES = (0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535)
INVALID_UTF8 = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe2\x82")


@dataclass(frozen=True)
class WireFrame:
    """One frame as a client puts it on the wire, hostile or not."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0
    masked: bool = True
    length_field: int | None = None  # 16 or 64: a longer length encoding than needed
    declared: int | None = None  # a length header promising more than is sent

    @property
    def length(self) -> int:
        return len(self.payload) if self.declared is None else self.declared

    def __repr__(self) -> str:
        payload = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        fields = [f"opcode={self.opcode}", f"payload={payload!r} ({len(self.payload)} bytes)"]
        for name in ("fin", "rsv", "masked", "length_field", "declared"):
            value = getattr(self, name)
            if value != type(self).__dataclass_fields__[name].default:
                fields.append(f"{name}={value!r}")
        return f"WireFrame({', '.join(fields)})"


def _fragments(opcode: int, payload: bytes, cuts: list[int]) -> list[WireFrame]:
    points = sorted({cut % (len(payload) + 1) for cut in cuts})
    pieces = [payload[a:b] for a, b in zip([0, *points], [*points, len(payload)], strict=True)]
    return [
        WireFrame(opcode if i == 0 else 0, piece, fin=i == len(pieces) - 1)
        for i, piece in enumerate(pieces)
    ]


# A whole message, text (valid UTF-8) or binary, in one to three frames.
data_messages = st.builds(
    _fragments,
    st.sampled_from([1, 2]),
    st.one_of(
        st.text(max_size=100).map(str.encode),
        st.binary(max_size=100),
        st.sampled_from([b"", "\u00e9\U0001f600".encode(), b"x" * 70_000]),
    ),
    st.lists(st.integers(0, 100), max_size=2),
)
control_frames = st.one_of(
    st.builds(WireFrame, st.just(9), st.binary(max_size=125)),  # ping
    st.builds(WireFrame, st.just(10), st.binary(max_size=125)),  # unsolicited pong
)


def _close_payload(code: int | None, reason: bytes) -> bytes:
    return b"" if code is None else code.to_bytes(2, "big") + reason


close_frames = st.builds(
    WireFrame,
    st.just(8),
    st.one_of(
        st.builds(
            _close_payload,
            st.sampled_from([None, *VALID_CLOSE_CODES]),
            st.text(max_size=20).map(str.encode).filter(lambda r: len(r) <= 123),
        ),
        st.builds(_close_payload, st.sampled_from(INVALID_CLOSE_CODES), st.just(b"")),
        st.builds(_close_payload, st.just(1000), st.sampled_from(INVALID_UTF8)),
        st.just(b"\x03"),  # one byte: not even a code
        st.just(_close_payload(1000, b"r" * 124)),  # 126 bytes: too long for a control frame
    ),
)
hostile_frames = st.one_of(
    st.builds(WireFrame, st.sampled_from([1, 2]), st.binary(max_size=20), masked=st.just(False)),
    st.builds(WireFrame, st.sampled_from([1, 2, 9]), st.binary(max_size=20), rsv=st.integers(1, 7)),
    st.builds(WireFrame, st.sampled_from(RESERVED_OPCODES), st.binary(max_size=20)),
    st.builds(  # invalid UTF-8 in a text frame
        lambda before, bad, after: WireFrame(1, before.encode() + bad + after.encode()),
        st.text(max_size=5),
        st.sampled_from(INVALID_UTF8),
        st.text(max_size=5),
    ),
    st.builds(WireFrame, st.sampled_from([9, 10, 8]), st.binary(max_size=5), fin=st.just(False)),
    st.builds(WireFrame, st.sampled_from([9, 10]), st.binary(min_size=126, max_size=200)),
    st.builds(WireFrame, st.just(0), st.binary(max_size=20)),  # continuation, nothing to continue
    st.builds(  # non-minimal length encoding
        WireFrame,
        st.sampled_from([1, 2]),
        st.binary(max_size=20),
        length_field=st.sampled_from([16, 64]),
    ),
    st.builds(  # a length over the limit, or with the most significant bit set
        WireFrame,
        st.sampled_from([1, 2]),
        declared=st.sampled_from([MAX_MESSAGE_SIZE + 1, 2**32, 2**62, 2**63]),
    ),
    close_frames,
)
frame_sequences = st.lists(
    st.one_of(data_messages, control_frames.map(lambda f: [f]), hostile_frames.map(lambda f: [f])),
    min_size=1,
    max_size=4,
).map(lambda groups: [frame for group in groups for frame in group])
