"""The JavaScript client in a real browser, against runasgi on uvicorn and on daphne.

Debian's Chromium, headless, driven by Playwright, opens the page of
``tests/client_project`` (which loads ``client.js`` from the app's static
files) and makes connections with ``window.track(name, path, options)``: each
event of a connection is kept in ``window.heard[name]``, for the test to wait
for and read. Broadcast goes through the local Redis (the groups' histories
outlive a restart of the server), under a key prefix of this module's own.

Needs Chromium and Playwright (see tests/browser.py), and Redis.

Not tested here: hidden tabs' throttled timers. Headless Chromium neither
throttles the timers of a page nor hides it, so the heartbeat's allowance for
a timer that ran late has no honest browser test; a page coming back to view
is the ``visibilitychange`` event the test fires.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser import chromium
from tests.live import ROOT, RUNASGI_SERVERS, child_env, runasgi

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

PROJECT = ROOT / "tests" / "client_project"
# Long enough for a server to stop, start again and be found by the backoff.
RECONNECT_TIMEOUT_MS = 20_000
WAIT_MS = 5_000
# Short pauses, so that a page comes back within a second or two of its server.
QUICK = "{initialDelay: 200, maxDelay: 1000, restartDelay: 200}"

# Defines window.track() in every page, before its scripts run.
HARNESS = """
window.connections = {};
window.heard = {};
const EVENTS = ["state", "open", "message", "close", "reconnecting", "stop", "resync",
                "presence", "join", "leave", "dropped", "error"];
// Details as JSON: bytes as a list of numbers, errors as their name and message.
const asJSON = (detail) => JSON.parse(JSON.stringify(detail, (key, value) => {
  if (value instanceof ArrayBuffer) return { bytes: [...new Uint8Array(value)] };
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}));
window.track = (name, path, options) => {
  const connection = new DjangoAsgiWs.Connection(path, options);
  const heard = (window.heard[name] = []);
  window.connections[name] = connection;
  for (const event of EVENTS) {
    connection.on(event, (detail) => heard.push({ event, ...asJSON(detail) }));
  }
};
// What a request gives: its reply, or its error's class, code and message.
window.ask = (name, data, options) => window.connections[name].request(data, options).then(
  (reply) => ({ reply }),
  (error) => ({ error: error.code, message: error.message, isRequestError:
                error instanceof DjangoAsgiWs.RequestError }),
);
"""


class Site:
    """tests/client_project served by ``runasgi``, stopped, paused and started again on one port."""

    def __init__(self, server: str, prefix: str, database: Path) -> None:
        self.server, self.prefix, self.database = server, prefix, database
        self.port = 0  # any free port at the first start, then the same one
        self.running = ExitStack()
        self.process: subprocess.Popen[str] | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return child_env(CLIENT_SITE_PREFIX=self.prefix, CLIENT_SITE_DB=str(self.database))

    def manage(self, *args: str) -> str:
        """Run ``manage.py *args`` with the site's settings; its output."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def create_database(self) -> None:
        """Migrate the database, with a user to issue tickets for: alice."""
        self.manage("migrate", "--noinput", "-v0")
        create = "from django.contrib.auth.models import User; User.objects.create_user('alice')"
        self.manage("shell", "-c", create)

    def start(self) -> None:
        args = (f"127.0.0.1:{self.port}", "--server", self.server, "--noreload")
        live = self.running.enter_context(runasgi(PROJECT, *args, env=self.env()))
        self.port, self.process = live.port, live.process

    def stop(self) -> None:
        self.running.close()
        self.process = None

    def pause(self) -> None:
        """Stop every process of the server without closing a socket: connections go dead."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGCONT)
        self.paused = False

    def ensure_running(self) -> None:
        """After a test that failed with the server stopped or paused, for the next one."""
        if self.paused:
            self.resume()
        if self.process is None or self.process.poll() is not None:
            self.stop()
            self.start()

    def publish(self, group: str, *messages: Any) -> list[str]:
        """Publish *messages* from another process, as a worker would; their positions."""
        return self.manage("publish", group, *map(json.dumps, messages)).split()


@pytest.fixture(scope="module", params=RUNASGI_SERVERS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    database = tmp_path_factory.mktemp("client-site") / "db.sqlite3"
    site = Site(request.param, f"client-e2e-{uuid.uuid4().hex[:8]}:", database)
    site.create_database()
    with site.running:
        site.start()
        yield site
        if site.paused:
            site.resume()


@pytest.fixture
def site(served: Site) -> Site:
    served.ensure_running()
    return served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def new_page(browser: Browser, site: Site) -> Iterator[Any]:
    """Opens the client's page in a browser context of its own (so, its own network)."""
    contexts = []

    def open_page() -> Page:
        context = browser.new_context(base_url=site.url)
        contexts.append(context)
        context.add_init_script(HARNESS)
        page = context.new_page()
        page.goto("/")
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Any) -> Page:
    return new_page()  # type: ignore[no-any-return]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def track(page: Page, name: str, path: str, options: str = "{}") -> None:
    """Open connection *name* to *path*; *options* is JavaScript (functions allowed)."""
    page.evaluate(f"window.track({json.dumps(name)}, {json.dumps(path)}, {options})")


def heard(page: Page, name: str, event: str) -> list[dict[str, Any]]:
    """The details of every *event* of connection *name* so far, oldest first."""
    found: list[dict[str, Any]] = page.evaluate(
        "([name, event]) => window.heard[name].filter((heard) => heard.event === event)",
        [name, event],
    )
    return found


def wait_for(
    page: Page, name: str, event: str, count: int = 1, timeout: float = WAIT_MS
) -> list[dict[str, Any]]:
    """Wait until connection *name* heard *count* *event* events; their details."""
    page.wait_for_function(
        "([name, event, count]) =>"
        " window.heard[name].filter((heard) => heard.event === event).length >= count",
        arg=[name, event, count],
        timeout=timeout,
    )
    return heard(page, name, event)


def messages(page: Page, name: str) -> list[Any]:
    return [detail["data"] for detail in heard(page, name, "message")]


def wait_for_messages(
    page: Page, name: str, count: int, timeout: float = WAIT_MS
) -> list[dict[str, Any]]:
    return wait_for(page, name, "message", count, timeout)


def state(page: Page, name: str) -> str:
    return str(page.evaluate("(name) => window.connections[name].state", name))


def call(page: Page, name: str, method: str, *args: Any) -> Any:
    return page.evaluate(
        "([name, method, args]) => window.connections[name][method](...args)", [name, method, args]
    )


def test_the_script_and_the_module_give_the_same_client(page: Page) -> None:
    same = page.evaluate(
        """async () => {
          const module = await import("/static/django_asgi_ws/client.mjs");
          return Object.keys(module).length === 2
            && module.Connection === DjangoAsgiWs.Connection
            && module.RequestError === DjangoAsgiWs.RequestError;
        }"""
    )
    assert same is True


def test_messages_come_back_with_their_group_and_position(page: Page) -> None:
    room = unique("room")
    track(page, "a", f"/ws/groups/{room}/")
    [opened] = wait_for(page, "a", "open")
    assert opened == {"event": "open", "plain": False, "reconnected": False}
    assert state(page, "a") == "open"
    assert call(page, "a", "send", {"text": "hello"}) is True
    [message] = wait_for_messages(page, "a", 1)
    assert (message["data"], message["group"]) == ({"text": "hello"}, room)
    assert message["position"]


def test_requests_get_replies_errors_and_timeouts(page: Page) -> None:
    track(page, "a", f"/ws/groups/{unique('room')}/")
    wait_for(page, "a", "open")
    ask = "([data, options]) => window.ask('a', data, options)"
    assert page.evaluate(ask, [["echo", {"n": 1}], {}]) == {"reply": {"n": 1}}
    assert page.evaluate(ask, [["fail", "no_such_thing"], {}]) == {
        "error": "no_such_thing",
        "message": "Failed with no_such_thing.",
        "isRequestError": True,
    }
    assert page.evaluate(ask, [["boom", None], {}])["error"] == "internal"
    timed_out = page.evaluate(ask, [["sleep", 1], {"timeout": 200}])
    assert timed_out == {
        "error": "timeout",
        "message": "No reply within 200 ms.",
        "isRequestError": True,
    }
    # The late reply is ignored; the next request gets its own.
    assert page.evaluate(ask, [["echo", "after"], {}]) == {"reply": "after"}
    assert page.evaluate(ask, [["binary", [1, 2, 255]], {}]) == {"reply": None}
    [binary] = wait_for_messages(page, "a", 1)
    assert (binary["data"], binary["group"], binary["position"]) == (
        {"bytes": [1, 2, 255]},
        None,
        None,
    )


def test_a_server_restart_loses_nothing(site: Site, page: Page) -> None:
    room = unique("room")
    track(page, "a", f"/ws/groups/{room}/?keep=me", QUICK)
    wait_for(page, "a", "open")
    call(page, "a", "send", "before")
    wait_for_messages(page, "a", 1)

    site.stop()
    [closed] = wait_for(page, "a", "close")
    assert closed["code"] in (1001, 1012)  # the server going away
    assert state(page, "a") in ("closed", "connecting")
    site.publish(room, "while down 1", "while down 2")
    assert call(page, "a", "send", "queued while down") is True

    site.start()
    wait_for(page, "a", "open", count=2, timeout=RECONNECT_TIMEOUT_MS)
    wait_for_messages(page, "a", 4)
    assert messages(page, "a") == ["before", "while down 1", "while down 2", "queued while down"]
    assert heard(page, "a", "resync") == []
    assert heard(page, "a", "open")[1]["reconnected"] is True
    # The reconnection kept the page's own query parameters, and gave the
    # position of the last message received before the restart.
    before = heard(page, "a", "message")[0]["position"]
    query = page.evaluate("window.ask('a', ['query', null])")
    assert query == {"reply": {"keep": ["me"], "since": [f"{room}:{before}"]}}
    # The first pause after a going-away close is short, whatever came before.
    [first_pause, *_] = heard(page, "a", "reconnecting")
    assert first_pause["failures"] == 0
    assert first_pause["delay"] < 200


def test_what_could_not_be_recovered_is_a_resync(page: Page, site: Site) -> None:
    room, live, small, other = unique("room"), unique("live"), unique("small"), unique("room")
    # A history that holds nothing yet gives no position to resume from.
    for group in (room, small, other):
        site.publish(group, 0)
    track(page, "a", f"/ws/groups/{room},{live}/", QUICK)
    track(page, "b", f"/ws/groups/{small},{other}/", QUICK)
    for name in ("a", "b"):
        wait_for(page, name, "open")
    page.context.set_offline(True)
    for name in ("a", "b"):
        wait_for(page, name, "close")
    site.publish(room, 1)
    site.publish(live, 1)  # a group without history keeps nothing
    site.publish(small, 1, 2, 3, 4)  # one more than its history keeps
    page.context.set_offline(False)
    for name in ("a", "b"):
        wait_for(page, name, "open", count=2, timeout=RECONNECT_TIMEOUT_MS)

    [resync] = wait_for(page, "a", "resync")
    assert resync["groups"] == [live]
    # The group whose history held it all recovered what was missed.
    assert [(m["group"], m["data"]) for m in wait_for_messages(page, "a", 1)] == [(room, 1)]
    # The welcome says that a history fell short, not which one: both groups.
    resyncs = wait_for(page, "b", "resync", count=2)
    assert sorted(group for detail in resyncs for group in detail["groups"]) == sorted(
        [small, other]
    )


def test_offline_closes_and_stops_trying_and_online_reconnects(page: Page) -> None:
    room = unique("room")
    track(page, "a", f"/ws/groups/{room}/", "{queueSize: 2}")
    wait_for(page, "a", "open")
    page.context.set_offline(True)
    [closed] = wait_for(page, "a", "close")
    assert (closed["code"], closed["reason"]) == (1006, "offline")
    assert call(page, "a", "send", "one") is True
    assert call(page, "a", "send", "two") is True
    assert call(page, "a", "send", "three") is False  # the queue holds 2
    assert heard(page, "a", "dropped") == [{"event": "dropped", "data": "three"}]
    page.wait_for_timeout(1500)
    assert state(page, "a") == "closed"
    assert heard(page, "a", "reconnecting") == []  # no attempt while offline

    page.context.set_offline(False)
    wait_for(page, "a", "open", count=2)
    wait_for_messages(page, "a", 2)
    assert messages(page, "a") == ["one", "two"]


def test_two_pages_see_each_other_join_and_leave(new_page: Any) -> None:
    room = unique("room")
    alice, bob = new_page(), new_page()
    track(alice, "a", f"/ws/groups/{room}/?user=alice")
    wait_for(alice, "a", "join")
    assert call(alice, "a", "members", room) == {"alice": [{"user": "alice"}]}

    track(bob, "b", f"/ws/groups/{room}/?user=bob")
    [joined] = [
        detail for detail in wait_for(alice, "a", "join", count=2) if detail["key"] == "bob"
    ]
    assert joined == {"event": "join", "group": room, "key": "bob", "meta": {"user": "bob"}}
    both = {"alice": [{"user": "alice"}], "bob": [{"user": "bob"}]}
    assert call(alice, "a", "members", room) == both
    bob.wait_for_function(
        "(room) => Object.keys(window.connections.b.members(room)).length === 2", arg=room
    )
    assert call(bob, "b", "members", room) == both
    assert heard(alice, "a", "presence")[-1]["members"] == both

    call(bob, "b", "close")
    [left] = wait_for(alice, "a", "leave")
    assert left == {"event": "leave", "group": room, "key": "bob", "meta": {"user": "bob"}}
    assert call(alice, "a", "members", room) == {"alice": [{"user": "alice"}]}
    assert heard(bob, "b", "stop") == [{"event": "stop", "code": 1000, "reason": "", "unsent": []}]


# Close code -> what the client does: "stop", or reconnect after a "restart"
# pause (no failure counted) or a "backoff" pause (one failure counted).
CLOSE_CODES = {
    1000: "backoff",
    1001: "restart",
    1003: "stop",
    1007: "stop",
    1008: "stop",
    1009: "stop",
    1011: "backoff",
    1012: "restart",
    1013: "backoff",
    4000: "backoff",
    4001: "stop",  # in finalCodes
    4002: "stop",  # isFinal says so
    4400: "stop",
    4403: "stop",
    4404: "stop",
    4408: "backoff",
    4429: "backoff",
    4499: "stop",
    4500: "backoff",
    4503: "backoff",
}


def test_the_close_code_decides_whether_to_come_back(page: Page) -> None:
    # Pauses long enough that no second attempt comes while the test reads the first.
    options = (
        "{initialDelay: 60000, restartDelay: 60000, finalCodes: [4001],"
        " isFinal: (code) => (code === 4002 ? true : undefined)}"
    )
    for code in CLOSE_CODES:
        track(page, str(code), f"/ws/close/{code}/", options)
    outcomes = {}
    for code in CLOSE_CODES:
        page.wait_for_function(
            "(name) => window.heard[name].some((h) => ['stop', 'reconnecting'].includes(h.event))",
            arg=str(code),
            timeout=WAIT_MS,
        )
        # The first connection's: a pause after a restart is drawn up to restartDelay,
        # so a second connection may have come and gone by now.
        assert messages(page, str(code))[0] == "hello"
        assert heard(page, str(code), "close")[0]["code"] == code
        stopped = heard(page, str(code), "stop")
        if stopped:
            assert stopped == [{"event": "stop", "code": code, "reason": "", "unsent": []}]
            outcomes[code] = "stop"
        else:
            pause = heard(page, str(code), "reconnecting")[0]
            outcomes[code] = "restart" if pause["failures"] == 0 else "backoff"
        call(page, str(code), "close")
    assert outcomes == CLOSE_CODES


def test_a_page_that_becomes_visible_reconnects_at_once(page: Page, site: Site) -> None:
    # Every pause at its ceiling, a minute: only the page's return makes it come back soon.
    page.evaluate("Math.random = () => 0.999")
    track(page, "a", f"/ws/groups/{unique('room')}/", "{initialDelay: 60000, restartDelay: 60000}")
    wait_for(page, "a", "open")
    site.stop()
    [pause] = wait_for(page, "a", "reconnecting")
    assert pause["delay"] > 59_000
    site.start()
    page.wait_for_timeout(500)
    assert state(page, "a") == "closed"
    # What the browser fires when the user comes back to the tab.
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    wait_for(page, "a", "open", count=2)


def test_a_refused_handshake_stops_the_client_with_4403(page: Page) -> None:
    track(page, "a", "/ws/private/")
    [stopped] = wait_for(page, "a", "stop")
    assert stopped == {"event": "stop", "code": 4403, "reason": "", "unsent": []}
    assert state(page, "a") == "stopped"
    assert heard(page, "a", "open") == []  # a refusal is an accept, but never open
    assert call(page, "a", "send", "too late") is False


def test_the_heartbeat_notices_a_dead_connection(page: Page, site: Site) -> None:
    quick_heartbeat = "{pingInterval: 500, pingTimeout: 500, connectTimeout: 1000, maxDelay: 1000}"
    track(page, "a", f"/ws/groups/{unique('room')}/", quick_heartbeat)
    wait_for(page, "a", "open")
    site.pause()  # the server hears nothing and answers nothing; no socket closes
    started = time.monotonic()
    [closed] = wait_for(page, "a", "close")
    assert (closed["code"], closed["reason"]) == (1006, "ping timeout")
    assert time.monotonic() - started < 3  # silence 0.5 s, then a ping unanswered 0.5 s
    site.resume()
    wait_for(page, "a", "open", count=2, timeout=RECONNECT_TIMEOUT_MS)


def test_a_view_that_does_not_speak_the_protocol_gets_plain_messages(page: Page) -> None:
    track(page, "a", "/ws/plain/")
    [opened] = wait_for(page, "a", "open")
    assert opened["plain"] is True
    wait_for_messages(page, "a", 3)
    call(page, "a", "send", {"echo": True})
    wait_for_messages(page, "a", 4)
    offered = {"offered": ["django-asgi-ws.v1", "django-asgi-ws.plain"]}
    assert messages(page, "a") == [offered, "not JSON", {"bytes": [1, 2]}, {"echo": True}]
    refused = page.evaluate("window.ask('a', 'anything')")
    assert refused["error"] == "unsupported"


def test_without_the_protocol_the_client_offers_no_subprotocol(page: Page) -> None:
    """For servers that know neither: a browser fails a handshake that selects none offered."""
    track(page, "a", "/ws/plain/", "{protocol: false}")
    [opened] = wait_for(page, "a", "open")
    assert opened["plain"] is True
    [offered, *_] = [detail["data"] for detail in wait_for_messages(page, "a", 1)]
    assert offered == {"offered": []}


def test_a_ticket_is_fetched_before_every_attempt(page: Page) -> None:
    """Tickets are single use here: presenting one twice would be refused."""
    fetch_ticket = """{ticket: async () => {
      window.fetched = (window.fetched || 0) + 1;
      return (await (await fetch("/ticket/alice/")).json()).ticket;
    }}"""
    track(page, "a", "/ws/whoami/", fetch_ticket)
    wait_for_messages(page, "a", 1)
    call(page, "a", "reconnect")
    wait_for_messages(page, "a", 2)
    assert page.evaluate("window.fetched") == 2
    seen = {
        "user": "alice",
        "query": {},
        "subprotocols": ["django-asgi-ws.v1", "django-asgi-ws.plain"],
    }
    assert messages(page, "a") == [seen, seen]  # the ticket taken out of what the view sees

    track(page, "q", "/ws/whoami/?page=1", fetch_ticket.replace("}}", "}, ticketIn: 'query'}"))
    wait_for_messages(page, "q", 1)
    assert messages(page, "q")[0]["user"] == "alice"
    assert messages(page, "q")[0]["query"] == {"page": ["1"]}


def test_a_refused_ticket_stops_the_client(page: Page) -> None:
    track(page, "a", "/ws/whoami/", "{ticket: 'forged.ticket'}")
    [stopped] = wait_for(page, "a", "stop")
    assert stopped["code"] == 4403
