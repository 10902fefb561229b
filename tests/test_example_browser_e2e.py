"""The example's chat in a real browser: Debian's Chromium, headless, driven by Playwright.

Each person has a browser context of their own (their own cookies, so their own
session) and logs in through the login form. The room page's own JavaScript
(example/chat/static/chat/room.js) does the rest.

Screenshots of the pages are saved in artifacts/browser/ (git-ignored), named
after the test, the server and the moment, for instance
``test_two_people_chat_live-uvicorn-1-typing-bob.png``.

Needs Chromium at /usr/bin/chromium (``apt-get install chromium``; .ci/run
installs it) and the ``playwright`` package (in the tox ``e2e`` environment).
Playwright's own browser downloads are never used. Without either, these tests
are skipped, or fail under CI=true.
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.browser import chromium
from tests.example_site import DEMO_PASSWORD, copy_example, example_env
from tests.live import ROOT, runasgi
from tests.skipping import unavailable

pytestmark = pytest.mark.e2e


try:
    from playwright.sync_api import Browser, Locator, Page, expect
except ImportError:
    unavailable("Playwright is missing: pip install playwright (tox -e e2e installs it).")

SCREENSHOTS = ROOT / "artifacts" / "browser"
# Long enough for a server to stop, start again and be found by the page's backoff.
RECONNECT_TIMEOUT_MS = 20_000


class Site:
    """The example served by ``runasgi``, stopped and started again on the same port."""

    def __init__(self, project: Path, server: str) -> None:
        self.project, self.server = project, server
        self.port = 0  # any free port at the first start, then the same one
        self.running = ExitStack()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = ("--server", self.server, "--noreload")
        serving = runasgi(self.project, f"127.0.0.1:{self.port}", *args, env=example_env())
        self.port = self.running.enter_context(serving).port

    def stop(self) -> None:
        self.running.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_example(tmp_path_factory.mktemp("example"))


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest, project: Path) -> Iterator[Site]:
    """The example on uvicorn (runasgi's default), or on the server a test names."""
    site = Site(project, getattr(request, "param", "uvicorn"))
    with site.running:
        site.start()
        yield site


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def sessions() -> dict[str, Any]:
    """Each user's cookies after their first login, for their next browsers in the module."""
    return {}


class Person(Protocol):
    def __call__(self, username: str, *, new_session: bool = False) -> Page: ...


@pytest.fixture
def person(browser: Browser, site: Site, sessions: dict[str, Any]) -> Iterator[Person]:
    """A person in a browser of their own, logged in as *username*.

    The first browser of a user logs in through the login form; the next ones
    reuse its session (hashing a password takes a while), unless *new_session*.
    """
    contexts = []

    def open_browser(username: str, *, new_session: bool = False) -> Page:
        state = None if new_session else sessions.get(username)
        context = browser.new_context(
            base_url=site.url, viewport={"width": 720, "height": 540}, storage_state=state
        )
        contexts.append(context)
        page = context.new_page()
        if state is not None:
            page.goto("/rooms/")
            expect(page.locator("#whoami")).to_have_text(username)
            return page
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(f"{site.url}/rooms/")
        if not new_session:
            sessions[username] = context.storage_state()
        return page

    yield open_browser
    for context in contexts:
        context.close()


@pytest.fixture
def snap(request: pytest.FixtureRequest, site: Site) -> Callable[..., None]:
    """Save screenshots of pages for this moment of the test."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    taken = 0

    def screenshot(moment: str, **pages: Page) -> None:
        nonlocal taken
        taken += 1
        for who, page in pages.items():
            name = f"{request.node.originalname}-{site.server}-{taken}-{moment}-{who}.png"
            page.screenshot(path=SCREENSHOTS / name)

    return screenshot


def create_room(page: Page) -> str:
    """Create a new room from the list of rooms; its path. The page is then in it."""
    page.get_by_label("Name").fill(f"Room {uuid.uuid4().hex[:6]}")
    page.get_by_role("button", name="Create room").click()
    expect(page.locator("#status")).to_have_text("connected")
    return urllib.parse.urlsplit(page.url).path


def say(page: Page, text: str) -> None:
    page.locator("#message").press_sequentially(text)
    page.locator("#message").press("Enter")


def messages(page: Page) -> Locator:
    """The texts of the messages the page shows, in order."""
    return page.locator("#messages .text")


def test_two_people_chat_live(person: Person, snap: Callable[..., None]) -> None:
    alice, bob = person("alice"), person("bob")
    room = create_room(alice)
    bob.goto(room)
    expect(bob.locator("#status")).to_have_text("connected")
    expect(alice.locator("#online")).to_have_text("alice, bob")  # who is in the room
    expect(bob.locator("#online")).to_have_text("alice, bob")

    alice.locator("#message").press_sequentially("Hello Bob")
    expect(bob.locator("#typing")).to_have_text("alice is typing…")
    expect(alice.locator("#typing")).to_be_hidden()  # nobody sees themselves typing
    snap("typing", alice=alice, bob=bob)

    alice.locator("#message").press("Enter")
    expect(messages(bob)).to_have_text(["Hello Bob"])
    expect(bob.locator("#typing")).to_be_hidden()  # a message ends the typing notice
    expect(messages(alice)).to_have_text(["Hello Bob"])

    say(bob, "Hi Alice!")
    expect(messages(alice)).to_have_text(["Hello Bob", "Hi Alice!"])
    expect(messages(bob)).to_have_text(["Hello Bob", "Hi Alice!"])
    snap("chatted", alice=alice, bob=bob)


def test_the_typing_notice_goes_away_when_the_typing_stops(
    person: Person, snap: Callable[..., None]
) -> None:
    alice, bob = person("alice"), person("bob")
    bob.goto(create_room(alice))
    expect(bob.locator("#status")).to_have_text("connected")  # typing notices are not queued
    bob.locator("#message").press_sequentially("Hmm, let me")
    expect(alice.locator("#typing")).to_have_text("bob is typing…")
    expect(alice.locator("#typing")).to_be_hidden(timeout=6000)
    snap("stopped-typing", alice=alice)


def test_history_is_shown_on_arrival(person: Person) -> None:
    alice = person("alice")
    room = create_room(alice)
    for text in ("first", "second"):
        say(alice, text)
    expect(messages(alice)).to_have_text(["first", "second"])
    bob = person("bob")
    bob.goto(room)
    expect(messages(bob)).to_have_text(["first", "second"])


def test_a_visitor_signs_up_and_opens_a_room(
    browser: Browser, site: Site, snap: Callable[..., None]
) -> None:
    context = browser.new_context(base_url=site.url, viewport={"width": 720, "height": 540})
    try:
        page = context.new_page()
        page.goto("/")
        expect(page.locator("#credentials")).to_contain_text(DEMO_PASSWORD)
        page.get_by_role("link", name="Sign up").first.click()
        username = f"carol{uuid.uuid4().hex[:6]}"
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password:", exact=True).fill("a long enough password 7")
        page.get_by_label("Password confirmation").fill("a long enough password 7")
        page.get_by_role("button", name="Sign up").click()
        expect(page.locator("#whoami")).to_have_text(username)
        create_room(page)
        say(page, "hello from a new account")
        expect(messages(page)).to_have_text(["hello from a new account"])
        snap("signed-up", carol=page)
    finally:
        context.close()


# On daphne, so that the pages meet both servers; the other tests run on uvicorn.
@pytest.mark.parametrize("site", ["daphne"], indirect=True)
def test_the_pages_reconnect_after_a_server_restart_and_nothing_is_lost(
    site: Site, person: Person, snap: Callable[..., None]
) -> None:
    alice, bob = person("alice"), person("bob")
    bob_elsewhere = person("bob", new_session=True)
    room = create_room(alice)
    for page in (bob, bob_elsewhere):
        page.goto(room)
    say(alice, "before the restart")
    expect(messages(bob)).to_have_text(["before the restart"])
    # In his other browser, Bob logs out in another tab: the room's page there
    # keeps its connection, and is refused when it reconnects.
    other_tab = bob_elsewhere.context.new_page()
    other_tab.goto("/rooms/")
    other_tab.get_by_role("button", name="Log out").click()
    expect(other_tab.get_by_role("link", name="Log in")).to_be_visible()

    site.stop()
    for page in (alice, bob):
        expect(page.locator("#status")).to_have_attribute("data-state", "reconnecting")
    say(alice, "sent while the server was down")
    expect(alice.locator("#messages .pending .text")).to_have_text(
        ["sent while the server was down"]
    )
    snap("server-down", alice=alice, bob=bob)

    site.start()
    for page in (alice, bob):
        expect(page.locator("#status")).to_have_text("connected", timeout=RECONNECT_TIMEOUT_MS)
    expect(bob_elsewhere.locator("#status")).to_have_text(
        "closed: Log in to chat.", timeout=RECONNECT_TIMEOUT_MS
    )
    expect(bob_elsewhere.locator("#login")).to_be_visible()
    expect(bob_elsewhere.locator("#message")).to_be_disabled()
    expected = ["before the restart", "sent while the server was down"]
    expect(messages(bob)).to_have_text(expected)
    expect(messages(alice)).to_have_text(expected)
    expect(alice.locator("#messages .pending")).to_have_count(0)

    say(bob, "after the restart")
    expect(messages(alice)).to_have_text([*expected, "after the restart"])
    expect(messages(bob)).to_have_text([*expected, "after the restart"])
    snap("reconnected", alice=alice, bob=bob, bob_logged_out=bob_elsewhere)
