"""The security defaults on the wire, on uvicorn and daphne, as a browser or attacker meets them."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from http.cookies import SimpleCookie

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.live import (
    ALL_SERVERS,
    DENIAL_RESPONSES,
    LiveServer,
    live_server,
    migrated_database,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated SQLite file with two users, shared by the test and the servers."""
    return migrated_database(tmp_path_factory.mktemp("db") / "db.sqlite3", "alice", "mallory")


@pytest.fixture(scope="module", params=ALL_SERVERS)
def server(
    request: pytest.FixtureRequest, database: dict[str, str]
) -> Iterator[tuple[str, LiveServer]]:
    with live_server(request.param, env=database) as live:
        yield request.param, live


def origin_of(live: LiveServer) -> str:
    return f"http://{live.host}:{live.port}"


def log_in(live: LiveServer, username: str) -> SimpleCookie:
    """Log in over a websocket, as a page would; return the cookies the 101 response set."""
    with connect(
        f"{live.url}/ws/login/{username}/", additional_headers={"Origin": origin_of(live)}
    ) as ws:
        assert json.loads(ws.recv(timeout=5)) == {"username": username}
        assert ws.response is not None
        cookies: SimpleCookie = SimpleCookie()
        for header in ws.response.headers.get_all("Set-Cookie"):
            cookies.load(header)
    return cookies


def http_whoami(live: LiveServer, cookies: SimpleCookie) -> str:
    """Ask an ordinary Django view over HTTP who the cookies belong to."""
    request = urllib.request.Request(
        f"http://{live.host}:{live.port}/whoami/", headers={"Cookie": cookie_header(cookies)}
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        return str(reply.read().decode())


def cookie_header(cookies: SimpleCookie) -> str:
    return "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())


def test_a_login_over_a_websocket_persists_for_http(server: tuple[str, LiveServer]) -> None:
    _, live = server
    cookies = log_in(live, "alice")
    assert "sessionid" in cookies
    assert cookies["sessionid"]["httponly"]
    assert http_whoami(live, cookies).startswith("alice ")


def test_a_page_of_the_site_connects_as_the_logged_in_user(
    server: tuple[str, LiveServer],
) -> None:
    _, live = server
    cookies = log_in(live, "alice")
    headers = {"Origin": origin_of(live), "Cookie": cookie_header(cookies)}
    with connect(live.url + "/ws/whoami/", additional_headers=headers) as ws:
        assert json.loads(ws.recv(timeout=5))["username"] == "alice"


def test_a_foreign_page_carrying_the_victims_cookie_is_refused(
    server: tuple[str, LiveServer],
) -> None:
    """Cross-site websocket hijacking: the browser attaches alice's cookie for evil.example."""
    _, live = server
    cookies = log_in(live, "alice")
    log_before = len(live.log())
    headers = {"Origin": "https://evil.example", "Cookie": cookie_header(cookies)}
    with pytest.raises(InvalidStatus) as refused:
        connect(live.url + "/ws/whoami/", additional_headers=headers, open_timeout=5)
    assert refused.value.response.status_code == 403
    log = live.wait_for_output("evil.example", timeout=5)[log_before:]
    assert log.count("'https://evil.example'") == 1
    assert "Traceback" not in log


def test_a_rebound_host_name_is_refused(server: tuple[str, LiveServer]) -> None:
    """DNS rebinding: the browser thinks it talks to rebound.example, which now resolves to us."""
    name, live = server
    sock = socket.create_connection((live.host, live.port))
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://rebound.example:{live.port}/ws/echo/", sock=sock, open_timeout=5)
    assert refused.value.response.status_code == (400 if DENIAL_RESPONSES[name] else 403)


def test_anonymous_visitors_are_refused_by_login_required(server: tuple[str, LiveServer]) -> None:
    _, live = server
    with pytest.raises(InvalidStatus) as refused:
        connect(live.url + "/ws/members/", open_timeout=5)
    assert refused.value.response.status_code == 403
    cookies = log_in(live, "mallory")
    with connect(
        live.url + "/ws/members/", additional_headers={"Cookie": cookie_header(cookies)}
    ) as ws:
        assert ws.recv(timeout=5) == "welcome mallory"


def closing_code(ws: object) -> tuple[int | None, str]:
    try:
        while True:
            ws.recv(timeout=5)  # type: ignore[attr-defined]
    except ConnectionClosed as closed:
        frame = closed.rcvd
        return (frame.code, frame.reason) if frame else (None, "")


def test_a_message_over_the_size_limit_closes_with_1009(server: tuple[str, LiveServer]) -> None:
    _, live = server
    with connect(live.url + "/ws/echo/", max_size=None) as ws:
        ws.send("x" * 4096)
        assert ws.recv(timeout=5) == "x" * 4096
        ws.send("x" * 4097)
        code, _ = closing_code(ws)
    assert code == 1009


def test_a_client_over_the_rate_limit_is_closed_with_1008(server: tuple[str, LiveServer]) -> None:
    _, live = server
    with connect(live.url + "/ws/echo/") as ws:
        for number in range(20):
            ws.send(str(number))
            assert ws.recv(timeout=5) == str(number)
        ws.send("one too many")
        assert closing_code(ws) == (1008, "Message rate limit exceeded.")


def test_a_view_that_never_decides_is_refused_after_the_handshake_timeout(
    server: tuple[str, LiveServer],
) -> None:
    name, live = server
    with pytest.raises(InvalidStatus) as refused:
        connect(live.url + "/ws/slow-handshake/", open_timeout=5)
    assert refused.value.response.status_code == (503 if DENIAL_RESPONSES[name] else 403)


def seconds_until_dropped(live: LiveServer, sent: bytes, limit: float = 5.0) -> float | None:
    """Send *sent* and nothing more: how long until the server drops the connection."""
    with socket.create_connection((live.host, live.port), timeout=limit) as sock:
        started = time.monotonic()
        sock.sendall(sent)
        try:
            while sock.recv(4096):
                pass
        except TimeoutError:
            return None
        return time.monotonic() - started


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /ws/echo/ HTTP/1.1\r\nHost: localhost\r\n"],
    ids=["nothing", "headers never finished"],
)
def test_a_connection_without_a_complete_request_is_dropped_after_the_handshake_timeout(
    server: tuple[str, LiveServer], sent: bytes
) -> None:
    """WEBSOCKET_HANDSHAKE_TIMEOUT (0.5 s here) also bounds the wait for the request."""
    _, live = server
    waited = seconds_until_dropped(live, sent)
    assert waited is not None, "still open after 5 s"
    assert waited < 3


def test_an_open_websocket_outlives_the_handshake_timeout(server: tuple[str, LiveServer]) -> None:
    _, live = server
    with connect(live.url + "/ws/echo/") as ws:
        time.sleep(1.5)
        ws.send("still here")
        assert ws.recv(timeout=5) == "still here"


def test_an_error_shows_the_client_only_1011_even_with_debug(
    server: tuple[str, LiveServer],
) -> None:
    _, live = server
    log_before = len(live.log())
    with connect(live.url + "/ws/raise-after-accept/") as ws:
        ws.send("go")
        assert closing_code(ws) == (1011, "")
    log = live.wait_for_output("secret detail", timeout=5)[log_before:]
    assert log.count("Traceback") == 1
    assert "Internal error in websocket view for /ws/raise-after-accept/" in log


def test_an_error_before_accept_shows_no_detail_even_with_debug(
    server: tuple[str, LiveServer],
) -> None:
    name, live = server
    with pytest.raises(InvalidStatus) as refused:
        connect(live.url + "/ws/raise-before-accept/", open_timeout=5)
    response = refused.value.response
    assert response.status_code == (500 if DENIAL_RESPONSES[name] else 403)
    assert b"secret" not in (response.body or b"")
