"""Property-based tests: hostile input never gets an undocumented outcome, in process.

Every handshake ends accepted or refused with 400, 403, 404 or 503 (500 only
for a view that raises, and none of the routes fuzzed here does); every
accepted connection ends with a documented close code; nothing hangs, no task
is left behind, and nothing is logged at ERROR level.

The scopes are built by strategies (tests.fuzz_strategies) and driven through
the ASGI application directly, so they carry what no server would let through
too: lone surrogates in the path, any bytes in header names and values.

Inputs that trigger a bug found by this fuzzing are left out of the properties
and reproduced by the strict-xfail ``test_finding_*`` tests at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from hypothesis import event, given
from hypothesis import strategies as st

from django_asgi_ws import WebSocketDisconnect, routing
from django_asgi_ws.handler import WebSocketApplication
from django_asgi_ws.routing import get_path_info, get_script_name
from django_asgi_ws.test import WebSocketClient, WebSocketRefused
from tests import fuzz_strategies as fs

# Examples of 1 MiB make long reprs; hypothesis warns, and warnings are errors here.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

# The outcomes documented for a handshake refused by the application, and the
# close codes an accepted connection may end with.
REFUSAL_STATUSES = {400, 403, 404, 500, 503}
CLOSE_CODES = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1012, 1013, *range(3000, 5000)}
TIMEOUT = 5.0
DENIAL = {"websocket.http.response": {}}


# Driving the application ----------------------------------------------------------------


@dataclass
class Conversation:
    """What the application did with one connection, seen from the server's side."""

    answer: str = "none"  # accept | close (refused without denial responses) | http | none
    status: int | None = None
    subprotocol: str | None = None
    accept_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    received: list[str | bytes] = field(default_factory=list)  # what the app sent after accept
    close_code: int | None = None  # the app's close, after accept
    close_reason: str = ""

    @property
    def refused_with(self) -> int | None:
        """The status a client sees: 403 for a refusal without denial responses."""
        return {"http": self.status, "close": 403}.get(self.answer)


def check_asgi_message(message: dict[str, Any]) -> None:
    """The application only sends what the ASGI websocket spec allows, with the right types."""
    kind = message["type"]
    if kind == "websocket.accept":
        assert message.get("subprotocol") is None or isinstance(message["subprotocol"], str)
        for name, value in message.get("headers") or ():
            assert isinstance(name, bytes) and isinstance(value, bytes), message
    elif kind == "websocket.close":
        assert type(message.get("code", 1000)) is int, message  # daphne rejects IntEnum
        assert isinstance(message.get("reason") or "", str), message
    elif kind == "websocket.send":
        text, data = message.get("text"), message.get("bytes")
        assert (text is None) != (data is None), message
        assert isinstance(text, str) if data is None else isinstance(data, bytes), message
    elif kind == "websocket.http.response.start":
        assert type(message["status"]) is int, message
        for name, value in message.get("headers") or ():
            assert isinstance(name, bytes) and isinstance(value, bytes), message
    elif kind == "websocket.http.response.body":
        assert isinstance(message.get("body", b""), bytes), message
    else:
        raise AssertionError(f"Not an ASGI websocket message: {message!r}")


async def converse(
    app: WebSocketApplication, scope: dict[str, Any], messages: Sequence[dict[str, Any]] = ()
) -> Conversation:
    """Run one connection as a server would: connect, then *messages*, then disconnect.

    A send after the client left raises OSError, as servers do. Fails if the
    application takes longer than TIMEOUT or raises.
    """
    conversation = Conversation()
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    answered = asyncio.Event()
    client_gone = False

    async def receive() -> dict[str, Any]:
        nonlocal client_gone
        message = await to_app.get()
        client_gone = client_gone or message["type"] == "websocket.disconnect"
        return message

    async def send(message: dict[str, Any]) -> None:
        check_asgi_message(message)
        kind = message["type"]
        if conversation.answer == "none":
            if kind == "websocket.accept":
                conversation.answer = "accept"
                conversation.subprotocol = message.get("subprotocol")
                conversation.accept_headers = list(message.get("headers") or [])
            elif kind == "websocket.close":
                conversation.answer = "close"
            elif kind == "websocket.http.response.start":
                conversation.answer, conversation.status = "http", message["status"]
            else:
                raise AssertionError(f"{kind} before the handshake was answered")
            answered.set()
        elif conversation.answer == "http":
            assert kind == "websocket.http.response.body", message
        elif conversation.answer == "accept":
            if client_gone or conversation.close_code is not None:
                if kind == "websocket.send":
                    raise OSError("The client has disconnected.")
                return
            if kind == "websocket.send":
                text = message.get("text")
                conversation.received.append(text if text is not None else message["bytes"])
            elif kind == "websocket.close":
                conversation.close_code = message.get("code", 1000)
                conversation.close_reason = message.get("reason") or ""
                to_app.put_nowait({"type": "websocket.disconnect", "code": conversation.close_code})
            else:
                raise AssertionError(f"{kind} after the handshake was accepted")
        else:
            raise AssertionError(f"{kind} after the handshake was refused")

    to_app.put_nowait({"type": "websocket.connect"})
    task = asyncio.ensure_future(app(scope, receive, send))
    waiter = asyncio.ensure_future(answered.wait())
    try:
        await asyncio.wait({task, waiter}, timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        if conversation.answer == "accept":
            for message in messages:
                to_app.put_nowait(message)
        # The client leaves (a real server also reports a refused client as gone).
        to_app.put_nowait({"type": "websocket.disconnect", "code": 1000})
        done, _ = await asyncio.wait({task}, timeout=TIMEOUT)
        assert done, f"The application hung on {scope['path']!r} (answer: {conversation.answer})"
    finally:
        for pending in (task, waiter):
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
    task.result()  # an exception escaping to the server is a finding
    return conversation


def message_events(messages: list[str | bytes]) -> list[dict[str, Any]]:
    return [
        {"type": "websocket.receive", "text": m}
        if isinstance(m, str)
        else {"type": "websocket.receive", "bytes": m}
        for m in messages
    ]


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def recorded_logs() -> Iterator[list[logging.LogRecord]]:
    """Every record that reaches the root logger meanwhile."""
    recorder = _Recorder()
    root = logging.getLogger()
    root.addHandler(recorder)
    try:
        yield recorder.records
    finally:
        root.removeHandler(recorder)


def errors(records: list[logging.LogRecord]) -> list[str]:
    return [
        f"{record.name}: {record.getMessage()} {record.exc_info[1]!r}"
        if record.exc_info
        else f"{record.name}: {record.getMessage()}"
        for record in records
        if record.levelno >= logging.ERROR
    ]


@contextlib.asynccontextmanager
async def no_tasks_left_behind() -> AsyncIterator[None]:
    """Fail if a task started meanwhile is still pending shortly after."""
    current = asyncio.current_task()
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    pending = [t for t in asyncio.all_tasks() if t not in before and t is not current]
    if pending:
        await asyncio.wait(pending, timeout=1.0)
    leftover = [t for t in pending if not t.done()]
    assert not leftover, f"Tasks left behind: {leftover!r}"


@pytest.fixture
def app() -> WebSocketApplication:
    return WebSocketApplication(DjangoASGIHandler())


# Strategies for whole scopes ------------------------------------------------------------

SERVERS = [("testserver", 80), ("127.0.0.1", 8000), ("evil.example", 80), ("testserver", 443), None]
CLIENTS = [("127.0.0.1", 50000), ("::1", 1), None]


def clearly_foreign(host: bytes) -> bool:
    """No allowed host name appears in *host* at all: ALLOWED_HOSTS cannot match it."""
    lowered = host.decode("latin-1").lower()
    return not any(allowed in lowered for allowed in fs.ALLOWED_HOSTS)


ALLOWED_HOST = re.compile(r"(testserver|127\.0\.0\.1|localhost)(:[0-9]+)?", re.IGNORECASE)


def clearly_allowed(host: bytes) -> bool:
    """An allowed host name, with a port or not."""
    return ALLOWED_HOST.fullmatch(host.decode("latin-1")) is not None


def effective_host(scope: dict[str, Any]) -> bytes:
    """The Host a handshake names: its header, else the server address (as Django does)."""
    for name, value in scope["headers"]:
        if name == b"host":
            return value
    server = scope.get("server")
    if server is None:
        return b""
    default = 443 if scope.get("scheme") == "wss" else 80
    return (server[0] if server[1] == default else f"{server[0]}:{server[1]}").encode()


@st.composite
def hostile_scopes(
    draw: st.DrawFn,
    *,
    paths: st.SearchStrategy[str] | None = None,
    hosts: st.SearchStrategy[bytes] = fs.hosts,
    origins: st.SearchStrategy[bytes] = fs.origins,
) -> Any:
    """A websocket scope as a server could build it from a hostile handshake, or worse."""
    path = draw(paths if paths is not None else fs.paths())
    root_path = draw(
        st.one_of(
            st.just(""), st.sampled_from(["/ws", "/app", "/"]), st.text(fs.any_char, max_size=4)
        )
    )
    if draw(st.booleans()) and root_path:
        path = root_path + path  # below the prefix, as servers build it
    headers: list[tuple[bytes, bytes]] = []
    for name, values, counts in [
        (b"host", hosts, [0, 1, 1, 1, 2]),  # a duplicate Host sometimes
        (b"origin", origins, [0, 1]),
        (b"x-forwarded-host", fs.forwarded_hosts, [0, 1, 2]),
        (b"cookie", fs.cookie_headers, [0, 1, 2]),
        (b"content-type", fs.content_types, [0, 1]),
    ]:
        count = draw(st.sampled_from(counts))
        headers += [(name, draw(values)) for _ in range(count)]
    extra_names = st.one_of(
        st.sampled_from([n for n in fs.KNOWN_HEADER_NAMES if n not in (b"host", b"origin")]),
        fs.token_names.filter(lambda n: n not in (b"host", b"origin")),
        st.binary(min_size=1, max_size=6)
        .map(bytes.lower)
        .filter(lambda n: n not in (b"host", b"origin")),
    )
    extra_values = st.one_of(fs.header_values, fs.content_types)
    headers += draw(st.lists(st.tuples(extra_names, extra_values), max_size=5))
    subprotocols = draw(st.one_of(st.just([]), fs.subprotocol_lists))
    if subprotocols:
        headers.append((b"sec-websocket-protocol", fs.subprotocol_header(subprotocols)))
    headers = draw(st.permutations(headers))
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": draw(st.sampled_from(["1.1", "2"])),
        "scheme": draw(st.sampled_from(["ws", "wss"])),
        "server": draw(st.sampled_from(SERVERS)),
        "client": draw(st.sampled_from(CLIENTS)),
        "root_path": root_path,
        "path": path,
        "raw_path": draw(st.one_of(st.just(fs.request_target(path)), st.binary(max_size=20))),
        "query_string": draw(fs.query_strings),
        "headers": headers,
        "subprotocols": subprotocols,
        "extensions": draw(st.sampled_from([DENIAL, {}])),
    }


messages_after_accept = st.lists(
    st.one_of(st.text(max_size=50), st.binary(max_size=50), fs.json_garbage), max_size=3
)


def assert_documented(conversation: Conversation) -> None:
    assert conversation.answer in ("accept", "close", "http"), conversation
    if conversation.answer == "http":
        assert conversation.status in REFUSAL_STATUSES, conversation
        assert conversation.status != 500, "a refusal with 500 for hostile input"
    if conversation.close_code is not None:
        assert conversation.close_code in CLOSE_CODES, conversation
        assert conversation.close_code != 1011, "an internal error for hostile input"


# Routing --------------------------------------------------------------------------------


@fs.fuzz_settings(400)
@given(path=fs.paths(), root_path=st.text(fs.any_char, max_size=8))
def test_resolve_and_get_path_info_never_raise_for_any_path(path: str, root_path: str) -> None:
    """Any str path, below any script prefix, resolves to a route or to None."""
    scope = {"path": path, "root_path": root_path}
    path_info = get_path_info(scope, get_script_name(scope))
    assert path_info.startswith("/")
    assert path_info.endswith(path[len(root_path) :] if path.startswith(root_path) else path)
    for candidate in (path_info, path):
        match = routing.resolve(candidate)
        assert match is None or callable(match.func)


# Handshakes -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@fs.fuzz_settings(150)
@given(scope=hostile_scopes(), messages=messages_after_accept)
async def test_hostile_handshakes_end_with_a_documented_outcome(
    app: WebSocketApplication, scope: dict[str, Any], messages: list[str | bytes]
) -> None:
    """Any scope is accepted or refused as documented, in time, without an error or a leak.

    A Host outside ALLOWED_HOSTS, or a repeated Host or X-Forwarded-Host, is
    always refused with 400; a foreign Origin with 403.
    """
    with recorded_logs() as records:
        async with no_tasks_left_behind():
            conversation = await converse(app, scope, message_events(messages))
    assert errors(records) == []
    assert_documented(conversation)
    event(f"answer: {conversation.refused_with or conversation.answer}")
    denial = bool(scope["extensions"])
    host = effective_host(scope)
    origin = next((v for n, v in scope["headers"] if n == b"origin"), None)
    names = [name for name, _ in scope["headers"]]
    repeated_host = names.count(b"host") > 1 or names.count(b"x-forwarded-host") > 1
    if clearly_foreign(host) or repeated_host:
        assert conversation.refused_with == (400 if denial else 403)
    elif clearly_allowed(host) and origin is not None and clearly_foreign(origin):
        assert conversation.refused_with == 403


@pytest.mark.django_db(transaction=True)
@fs.fuzz_settings(150)
@given(
    scope=hostile_scopes(
        paths=st.sampled_from(fs.ROUTES),
        hosts=st.one_of(st.sampled_from([b"testserver", b"localhost:8000"]), fs.hosts),
        origins=st.one_of(
            st.sampled_from([b"http://testserver", b"https://localhost"]), fs.origins
        ),
    ),
    messages=messages_after_accept,
)
async def test_hostile_headers_on_every_route_end_with_a_documented_outcome(
    app: WebSocketApplication, scope: dict[str, Any], messages: list[str | bytes]
) -> None:
    """The same, for the routes as they are and mostly valid hosts: the views run and read
    the headers, cookies, query string and subprotocols."""
    with recorded_logs() as records:
        async with no_tasks_left_behind():
            conversation = await converse(app, scope, message_events(messages))
    assert errors(records) == []
    assert_documented(conversation)
    event(f"answer: {conversation.refused_with or conversation.answer}")


@pytest.mark.django_db(transaction=True)
@fs.fuzz_settings(60)
@given(
    scope=hostile_scopes(paths=st.sampled_from(["/ws/echo/", "/ws/request/", "/ws/nowhere/"])),
    forwarded=fs.forwarded_hosts,
)
async def test_x_forwarded_host_is_checked_like_host_when_trusted(
    app: WebSocketApplication, scope: dict[str, Any], forwarded: bytes, settings: Any
) -> None:
    """With USE_X_FORWARDED_HOST, a foreign X-Forwarded-Host is refused whatever Host says."""
    settings.USE_X_FORWARDED_HOST = True
    scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"x-forwarded-host"]
    scope["headers"].append((b"x-forwarded-host", forwarded))
    with recorded_logs() as records:
        async with no_tasks_left_behind():
            conversation = await converse(app, scope)
    assert errors(records) == []
    assert_documented(conversation)
    if clearly_foreign(forwarded):
        assert conversation.refused_with == (400 if scope["extensions"] else 403)


@pytest.mark.django_db(transaction=True)
@fs.fuzz_settings(80)
@given(
    path=st.sampled_from(
        ["/ws/whoami/", "/ws/visit/", "/ws/members/", "/ws/members-view/", "/ws/staff/"]
    ),
    cookies=st.lists(fs.cookie_headers, min_size=1, max_size=3),
)
async def test_forged_and_malformed_session_cookies_never_authenticate(
    app: WebSocketApplication, path: str, cookies: list[bytes]
) -> None:
    """An unknown, malformed or huge session cookie gives an anonymous user and no session;
    a session started for it gets a new key (no fixation)."""
    scope = {
        "type": "websocket",
        "path": path,
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *((b"cookie", c) for c in cookies)],
        "subprotocols": [],
        "extensions": DENIAL,
    }
    with recorded_logs() as records:
        async with no_tasks_left_behind():
            conversation = await converse(app, scope, message_events(["key"]))
    assert errors(records) == []
    if path in ("/ws/members/", "/ws/members-view/", "/ws/staff/"):
        assert conversation.refused_with == 403
    elif path == "/ws/whoami/":
        assert conversation.answer == "accept"
        assert json.loads(conversation.received[0]) == {
            "username": "",
            "authenticated": False,
            "session_key": None,
            "visits": 0,
        }
        assert conversation.received[1:] == ["stored"]
    else:
        assert conversation.answer == "accept"
        assert json.loads(conversation.received[0]) == {"visits": 1}
        [set_cookie] = [v for n, v in conversation.accept_headers if n == b"set-cookie"]
        new_key = set_cookie.split(b";")[0].removeprefix(b"sessionid=")
        assert len(new_key) == 32 and new_key not in b"".join(cookies)


@fs.fuzz_settings(100)
@given(subprotocols=fs.subprotocol_lists)
async def test_subprotocol_lists_are_offered_to_the_view_unchanged(
    app: WebSocketApplication, subprotocols: list[str]
) -> None:
    """The view sees the client's list as is (empty strings, duplicates, commas, thousands)
    and may accept its first entry."""
    scope = {
        "type": "websocket",
        "path": "/ws/describe/1/",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "subprotocols": subprotocols,
        "extensions": DENIAL,
    }
    with recorded_logs() as records:
        async with no_tasks_left_behind():
            conversation = await converse(app, scope)
    assert errors(records) == []
    assert conversation.answer == "accept"
    assert conversation.subprotocol == (subprotocols[0] if subprotocols else None)
    assert json.loads(conversation.received[0])["subprotocols"] == subprotocols
    assert conversation.close_code == 1000


# Messages -----------------------------------------------------------------------------------


async def receive_or_close(ws: Any) -> str | bytes | int:
    """The next message, or the close code if the application closed instead."""
    try:
        return await ws.receive()  # type: ignore[no-any-return]
    except WebSocketDisconnect as closed:
        return closed.code


@fs.fuzz_settings(150)
@given(
    path=st.sampled_from(["/ws/echo/", "/ws/text-only/", "/ws/bytes-only/"]),
    messages=st.lists(st.one_of(fs.text_messages, fs.byte_messages), min_size=1, max_size=5),
)
async def test_messages_of_any_content_are_echoed_or_refused_with_1003(
    client: WebSocketClient, path: str, messages: list[str | bytes]
) -> None:
    """Text (lone surrogates included) and bytes, empty or not, come back as the view says;
    the wrong frame type for a text-only or bytes-only view closes with 1003."""
    with recorded_logs() as records:
        async with no_tasks_left_behind(), client.connect(path) as ws:
            for message in messages:
                await (ws.send_text if isinstance(message, str) else ws.send_bytes)(message)
                reply = await receive_or_close(ws)
                if path == "/ws/echo/":
                    assert reply == message
                elif path == "/ws/text-only/":
                    assert reply == (message.upper() if isinstance(message, str) else 1003)
                else:
                    assert reply == (message[::-1] if isinstance(message, bytes) else 1003)
                if isinstance(reply, int):
                    break
    assert errors(records) == []


@fs.fuzz_settings(20)
@given(message=fs.near_limit_messages)
async def test_messages_over_the_size_limit_close_with_1009_and_others_are_echoed(
    client: WebSocketClient, message: str | bytes
) -> None:
    """WEBSOCKET_MAX_MESSAGE_SIZE counts UTF-8 bytes: one byte more closes with 1009."""
    async with no_tasks_left_behind(), client.connect("/ws/echo/") as ws:
        await (ws.send_text if isinstance(message, str) else ws.send_bytes)(message)
        reply = await receive_or_close(ws)
    if fs.encoded_size(message) > fs.MAX_MESSAGE_SIZE:
        assert reply == 1009
        assert ws.close_reason == f"Messages are limited to {fs.MAX_MESSAGE_SIZE} bytes."
    else:
        assert reply == message


@fs.fuzz_settings(200)
@given(texts=st.lists(fs.json_garbage, min_size=1, max_size=4))
async def test_json_garbage_is_echoed_if_valid_and_closes_with_1007_if_not(
    client: WebSocketClient, texts: list[str]
) -> None:
    """A JSON view echoes any JSON document and closes with 1007 on the first malformed one."""
    with recorded_logs() as records:
        async with no_tasks_left_behind(), client.connect("/ws/fuzz/json/") as ws:
            for text in texts:
                await ws.send_text(text)
                reply = await receive_or_close(ws)
                try:
                    expected = fs.canonical_json(text)
                except ValueError:
                    assert reply == 1007
                    assert ws.close_reason == "Malformed JSON."
                    break
                assert isinstance(reply, str) and fs.canonical_json(reply) == expected
    assert errors(records) == []


@fs.fuzz_settings(60)
@given(
    texts=st.lists(
        st.one_of(
            st.integers(-(10**6), 10**6).map(lambda n: json.dumps({"add": n})),
            fs.malformed_json,
        ),
        min_size=1,
        max_size=4,
    )
)
async def test_json_counter_counts_or_closes_with_1007(
    client: WebSocketClient, texts: list[str]
) -> None:
    """The JSON class-based view of the test project: a running count, 1007 on malformed JSON."""
    count = 10
    with recorded_logs() as records:
        async with no_tasks_left_behind(), client.connect("/ws/counter/") as ws:
            for text in texts:
                await ws.send_text(text)
                reply = await receive_or_close(ws)
                if fs.is_malformed_json(text):
                    assert reply == 1007
                    break
                count += json.loads(text)["add"]
                assert json.loads(reply) == {"count": count}
    assert errors(records) == []


# Findings (each reproduces a bug this fuzzing found; see the module docstring) -------------


async def _outcome(
    client: WebSocketClient,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    send: str | None = None,
) -> str:
    """ "refused <status>" or "closed <code>" for one connection."""
    try:
        async with client.connect(path, headers=headers) as ws:
            if send is not None:
                await ws.send_text(send)
            while True:
                reply = await receive_or_close(ws)
                if isinstance(reply, int):
                    return f"closed {reply}"
    except WebSocketRefused as refused:
        return f"refused {refused.status_code}"


def _internal_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "content_type", ["text/plain; charset*=bogus''x", "text/plain; charset*=utf-8''%00"]
)
async def test_finding_1_a_hostile_content_type_does_not_break_websocket_user(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture, content_type: str
) -> None:
    """A handshake has no body; its Content-Type must not make websocket.user raise."""
    outcome = await _outcome(client, "/ws/members/", headers={"content-type": content_type})
    assert (outcome, _internal_errors(caplog)) == ("refused 403", [])


async def test_finding_2_too_many_query_fields_close_with_1008_not_an_internal_error(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    """TooManyFieldsSent from websocket.GET, read by the view after its accept, is the
    client's error, as Django answers it for HTTP: a close with 1008 and a warning on
    django.security.TooManyFieldsSent, not a 1011 and a traceback."""
    outcome = await _outcome(client, "/ws/describe/1/?" + "&".join(["q=1"] * 1001))
    assert outcome == "closed 1008"
    assert _internal_errors(caplog) == []
    warnings = [(r.name, r.levelno) for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [("django.security.TooManyFieldsSent", logging.WARNING)]


@pytest.mark.parametrize(
    "hosts",
    [(b"testserver", b"testserver"), (b"evil.example", b"testserver")],
    ids=["the same twice", "a foreign one first"],
)
async def test_findings_2_and_3_a_repeated_host_header_is_refused_with_400(
    app: WebSocketApplication, caplog: pytest.LogCaptureFixture, hosts: tuple[bytes, bytes]
) -> None:
    """Two Host headers are refused as Django refuses them (400), before a view can trip
    on them in get_host() or a foreign first one be smuggled past the check."""
    scope = {
        "type": "websocket",
        "path": "/ws/request/",
        "query_string": b"",
        "headers": [(b"host", host) for host in hosts],
        "extensions": DENIAL,
    }
    conversation = await converse(app, scope)
    assert conversation.refused_with == 400
    assert _internal_errors(caplog) == []


async def test_finding_4_deeply_nested_json_closes_with_1007(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    """JSON nested deeper than the recursion limit is malformed input (1007), not a 1011."""
    outcome = await _outcome(client, "/ws/fuzz/json/", send="[" * 100_000)
    assert (outcome, _internal_errors(caplog)) == ("closed 1007", [])


@pytest.mark.parametrize("text", ['{"add": "x"}', "[]", '{"add": 1e999}', "{}", "null", "1"])
async def test_json_counter_closes_with_1008_on_json_without_an_integer_add(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    """Valid JSON of the wrong shape is the client's mistake (1008, with the view's reason),
    not a view error."""
    async with client.connect("/ws/counter/") as ws:
        await ws.send_text(text)
        assert await ws.wait_closed() == 1008
    assert ws.close_reason == 'Send {"add": <integer>}.'
    assert _internal_errors(caplog) == []
