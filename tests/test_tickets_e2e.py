"""Clients without cookies on uvicorn and daphne: tickets, and a token middleware.

The client is the ``websockets`` library, as a script, a mobile app or another
service would be, and at the end a page in Chromium (skipped where Playwright
or /usr/bin/chromium is missing). The servers run the test project behind the
bearer-token middleware of ``tests.token_middleware``, through the production
entry points.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.live import LiveServer, live_server, migrated_database
from tests.token_middleware import token_for

pytestmark = pytest.mark.e2e

SERVERS = ["uvicorn-cli", "daphne-cli"]
TICKET_SUBPROTOCOL = "django-asgi-ws.ticket."


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated SQLite file with alice, shared by the test and the servers."""
    return migrated_database(tmp_path_factory.mktemp("db") / "db.sqlite3", "alice")


@pytest.fixture(scope="module", params=SERVERS)
def live(request: pytest.FixtureRequest, database: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(request.param, env=database, app="tests.token_asgi:application") as server:
        yield server


def session_cookie(live: LiveServer) -> str:
    """Log alice in over a websocket; the ``Cookie`` header of her session."""
    with connect(f"{live.url}/ws/login/alice/") as ws:
        assert json.loads(ws.recv(timeout=5)) == {"username": "alice"}
        assert ws.response is not None
        set_cookie = ws.response.headers["Set-Cookie"]
    return set_cookie.split(";", 1)[0]


def fetch_ticket(live: LiveServer, path: str = "/ws-ticket/") -> dict[str, Any]:
    """What a logged-in client gets from TicketView."""
    request = urllib.request.Request(
        f"http://{live.host}:{live.port}{path}",
        method="POST",
        headers={"Cookie": session_cookie(live)},
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        assert reply.headers["Cache-Control"] == "no-store"
        data: dict[str, Any] = json.loads(reply.read())
    return data


def whoami(ws: Any) -> str:
    username: str = json.loads(ws.recv(timeout=5))["username"]
    return username


def test_the_ticket_view_answers_over_http(live: LiveServer) -> None:
    body = fetch_ticket(live)
    assert set(body) == {"ticket", "max_age"}
    assert body["max_age"] == 60


def test_a_ticket_offered_as_a_subprotocol_connects_as_its_user(live: LiveServer) -> None:
    ticket = fetch_ticket(live)["ticket"]
    subprotocols: Any = [TICKET_SUBPROTOCOL + ticket]
    with connect(f"{live.url}/ws/whoami/", subprotocols=subprotocols) as ws:
        assert ws.subprotocol is None
        assert whoami(ws) == "alice"
    assert ticket not in live.log()


def test_a_ticket_in_the_query_string_connects_as_its_user(live: LiveServer) -> None:
    ticket = fetch_ticket(live)["ticket"]
    with connect(f"{live.url}/ws/whoami/?ws_ticket={ticket}") as ws:
        assert whoami(ws) == "alice"


def test_a_single_use_ticket_is_refused_the_second_time_with_403(live: LiveServer) -> None:
    ticket = fetch_ticket(live, "/ws-ticket/single-use/")["ticket"]
    subprotocols: Any = [TICKET_SUBPROTOCOL + ticket]
    with connect(f"{live.url}/ws/whoami/", subprotocols=subprotocols) as ws:
        assert whoami(ws) == "alice"
    log_before = len(live.log())
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{live.url}/ws/whoami/", subprotocols=subprotocols, open_timeout=5)
    assert refused.value.response.status_code == 403
    log = live.wait_for_output("already used", timeout=5)[log_before:]
    assert "Refused websocket /ws/whoami/: the single-use ticket was already used" in log
    assert ticket not in log
    assert "Traceback" not in log


def test_a_forged_ticket_is_refused_with_403(live: LiveServer) -> None:
    log_before = len(live.log())
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{live.url}/ws/whoami/?ws_ticket=eyJ.forged.ticket", open_timeout=5)
    assert refused.value.response.status_code == 403
    log = live.wait_for_output("signature is wrong", timeout=5)[log_before:]
    assert "eyJ.forged.ticket" not in log


def test_a_token_middleware_sets_the_user(live: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {token_for('alice')}"}
    with connect(f"{live.url}/ws/members/", additional_headers=headers) as ws:
        assert ws.recv(timeout=5) == "welcome alice"
    with pytest.raises(InvalidStatus) as refused:
        bad = {"Authorization": "Bearer not-a-token"}
        connect(f"{live.url}/ws/members/", additional_headers=bad, open_timeout=5)
    assert refused.value.response.status_code == 403


# In a browser --------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
OPEN_IN_PAGE = """([url, protocols]) => new Promise((resolve) => {
    const socket = new WebSocket(url, protocols);
    socket.onmessage = (event) => {
        resolve({protocol: socket.protocol, data: JSON.parse(event.data)});
        socket.close();
    };
    socket.onclose = (event) => resolve({code: event.code});
})"""


@pytest.fixture(scope="module")
def page(live: LiveServer) -> Iterator[Any]:
    """A page of the site in Chromium, with no cookie: the ticket is all it has."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is missing at {CHROMIUM}")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()
        page.goto(f"http://{live.host}:{live.port}/hello/")
        yield page
        browser.close()


def test_a_page_presents_a_ticket_in_the_query_string(live: LiveServer, page: Any) -> None:
    ticket = fetch_ticket(live)["ticket"]
    seen = page.evaluate(OPEN_IN_PAGE, [f"{live.url}/ws/whoami/?ws_ticket={ticket}", []])
    assert seen["data"]["username"] == "alice"


def test_a_page_presents_a_ticket_subprotocol_beside_one_the_view_selects(
    live: LiveServer, page: Any
) -> None:
    ticket = fetch_ticket(live)["ticket"]
    offered = ["chat.v1", TICKET_SUBPROTOCOL + ticket]
    seen = page.evaluate(OPEN_IN_PAGE, [f"{live.url}/ws/handshake-left/", offered])
    assert seen["protocol"] == "chat.v1"
    assert seen["data"]["username"] == "alice"


def test_a_page_offering_only_the_ticket_fails_when_the_view_selects_none(
    live: LiveServer, page: Any
) -> None:
    """Chromium fails a handshake whose response selects none of the offered subprotocols:
    the reason the ticket goes beside a subprotocol the view selects."""
    ticket = fetch_ticket(live)["ticket"]
    seen = page.evaluate(OPEN_IN_PAGE, [f"{live.url}/ws/whoami/", [TICKET_SUBPROTOCOL + ticket]])
    assert seen == {"code": 1006}


def test_a_page_offering_the_plain_subprotocol_beside_the_ticket_connects_to_any_view(
    live: LiveServer, page: Any
) -> None:
    """What the JavaScript client offers: a view that selects nothing accepts with plain."""
    ticket = fetch_ticket(live)["ticket"]
    offered = ["django-asgi-ws.plain", TICKET_SUBPROTOCOL + ticket]
    seen = page.evaluate(OPEN_IN_PAGE, [f"{live.url}/ws/whoami/", offered])
    assert seen["protocol"] == "django-asgi-ws.plain"
    assert seen["data"]["username"] == "alice"
