"""The tutorial (docs/tutorial.rst), followed as a reader follows it.

Its code blocks are read from the page in order: a block with a ``:caption:``
is a file, written whole, or added to the end of the file when the caption
says ``(add to the end)``; the lines of the other shell blocks are its
commands, run in the project (``createsuperuser`` with ``--noinput``). Each
``runasgi`` of the page is a point where the reader tries the site: the
project is copied there, served by ``runasgi`` on uvicorn and on daphne, and
visited as the page says, with real HTTP requests and real websockets sending
the ``Origin`` a browser sends; the room page's own JavaScript also runs in
Chromium when Playwright and /usr/bin/chromium are there. The tutorial's own
tests run last, with the command it gives.
"""

from __future__ import annotations

import functools
import http.cookiejar
import json
import re
import shlex
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from tests.browser import chromium as launch_chromium
from tests.live import ROOT, LiveServer, child_env, runasgi

pytestmark = pytest.mark.e2e

TUTORIAL = ROOT / "docs" / "tutorial.rst"
# What createsuperuser would have asked for.
PASSWORD = "tutorial-password-7291"
CAPTION = re.compile(r"(?P<path>[\w./-]+)(?P<append> \(add to the end\))?")
SHELLS = {"sh", "bash", "console", "shell"}
# The address the page uses, and a page of another site.
PAGE_ADDRESS = "127.0.0.1:8000"
FOREIGN_ORIGIN = "https://elsewhere.example"


# Reading the page -------------------------------------------------------------------


@dataclass
class Block:
    language: str
    caption: str | None
    text: str


def code_blocks(rst: str) -> list[Block]:
    """Every ``.. code-block::`` of *rst*, in order, with its caption and dedented text."""
    lines = rst.splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        match = re.fullmatch(r"(\s*)\.\. code-block:: (\S+)\s*", lines[index])
        index += 1
        if match is None:
            continue
        outer = len(match[1])
        options: dict[str, str] = {}
        while index < len(lines) and (option := re.fullmatch(r"\s+:(\w+):(.*)", lines[index])):
            options[option[1]] = option[2].strip()
            index += 1
        body: list[str] = []
        while index < len(lines) and (
            not lines[index].strip() or len(lines[index]) - len(lines[index].lstrip()) > outer
        ):
            body.append(lines[index])
            index += 1
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        indent = min(len(line) - len(line.lstrip()) for line in body if line.strip())
        text = "\n".join(line[indent:] for line in body) + "\n"
        blocks.append(Block(match[2], options.get("caption"), text))
    return blocks


# Following it -----------------------------------------------------------------------


@dataclass
class Tutorial:
    """What following the page produced."""

    project: Path
    # A copy of the project at each "python manage.py runasgi" of the page.
    served: list[Path] = field(default_factory=list)
    # The users createsuperuser made.
    users: list[str] = field(default_factory=list)
    # The URIs given to "python -m websockets".
    client_uris: list[str] = field(default_factory=list)
    # The test commands, run last.
    tests: list[list[str]] = field(default_factory=list)
    # The paths of the captions, in the order written.
    files: list[str] = field(default_factory=list)


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv, cwd=cwd, env=child_env(**env), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"{shlex.join(argv)} failed:\n{result.stdout}{result.stderr}"
    return result


def follow(directory: Path) -> Tutorial:
    """Do what the page says, in the order it says it, starting in *directory*."""
    cwd = directory
    tutorial = Tutorial(directory)
    for block in code_blocks(TUTORIAL.read_text(encoding="utf-8")):
        if block.caption is not None:
            write_file(cwd, block, tutorial)
        elif block.language in SHELLS:
            for line in block.text.splitlines():
                command = shlex.split(line, comments=True)
                if command:
                    cwd = run_command(command, cwd, tutorial)
    tutorial.project = cwd
    return tutorial


def write_file(project: Path, block: Block, tutorial: Tutorial) -> None:
    assert block.caption is not None
    caption = CAPTION.fullmatch(block.caption)
    assert caption is not None, f"A caption that is not a path: {block.caption!r}"
    path = project / caption["path"]
    if caption["append"]:
        assert path.is_file(), f"{caption['path']} should exist before something is added to it"
        existing = path.read_text(encoding="utf-8").rstrip("\n")
        path.write_text(existing + "\n\n\n" + block.text, encoding="utf-8")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text, encoding="utf-8")
    tutorial.files.append(caption["path"])


def run_command(command: list[str], cwd: Path, tutorial: Tutorial) -> Path:
    """Run one line of the page's shell blocks in *cwd*; the directory it leaves us in."""
    match command:
        case ["python3", "-m", "venv", _] | [".", _] | ["python", "-m", "pip", "install", *_]:
            pass  # this test runs in an environment with the package installed
        case ["django-admin", *args]:
            run([sys.executable, "-m", "django", *args], cwd)
        case ["cd", directory]:
            cwd = cwd / directory
        case ["python", "manage.py", "runasgi", *_]:
            copy = tutorial.project / f"served-{len(tutorial.served)}" / cwd.name
            shutil.copytree(cwd, copy, ignore=shutil.ignore_patterns("__pycache__"))
            tutorial.served.append(copy)
        case ["python", "manage.py", "createsuperuser", *args]:
            username = args[args.index("--username") + 1]
            argv = [sys.executable, "manage.py", "createsuperuser", "--noinput", *args]
            run(argv, cwd, DJANGO_SUPERUSER_PASSWORD=PASSWORD)
            tutorial.users.append(username)
        case ["python", "manage.py", "test", *args]:
            tutorial.tests.append([sys.executable, "manage.py", "test", *args])
        case ["python", "manage.py", *args]:
            run([sys.executable, "manage.py", *args], cwd)
        case ["python", "-m", "websockets", uri]:
            tutorial.client_uris.append(uri)
        case _:
            raise AssertionError(f"The tutorial runs a command this test does not know: {command}")
    return cwd


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Tutorial:
    return follow(tmp_path_factory.mktemp("tutorial"))


def test_the_page_writes_the_files_it_names(tutorial: Tutorial) -> None:
    assert len(tutorial.served) == 2, "runasgi: once for the echo, once for the chat"
    assert len(tutorial.users) == 2
    assert tutorial.tests
    for path in ["mysite/asgi.py", "mysite/ws_urls.py", "chat/ws_views.py", "chat/tests.py"]:
        assert path in tutorial.files


# Visiting the site ------------------------------------------------------------------


class Browser:
    """What a browser does here: cookies, redirects, forms, and websockets opened by a page."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.site = f"http://{live.host}:{live.port}"
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def open(self, path: str, form: dict[str, str] | None = None) -> tuple[str, str]:
        """Visit *path* (posting *form*); where the redirects end, and that page."""
        data = None if form is None else urllib.parse.urlencode(form).encode()
        with self.opener.open(self.site + path, data=data, timeout=5) as reply:
            url = urllib.parse.urlsplit(reply.geturl())
            landing = f"{url.path}?{url.query}" if url.query else url.path
            return landing, str(reply.read().decode())

    def log_in(self, path: str, username: str) -> tuple[str, str]:
        """Visit *path*, fill in the login form it leads to; where that ends, and the page."""
        landing, page = self.open(path)
        hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
        assert "csrfmiddlewaretoken" in hidden, f"no login form at {landing}"
        return self.open(landing, {**hidden, "username": username, "password": PASSWORD})

    def websocket(self, path: str, origin: str | None = None) -> PageSocket:
        """A websocket opened by a page of *origin*, by default a page of this site."""
        cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.cookies)
        ws = connect(
            self.site.replace("http", "ws", 1) + path,
            origin=Origin(origin or self.site),
            additional_headers={"Cookie": cookies} if cookies else None,
            open_timeout=5,
        )
        return PageSocket(ws, self.live)


@dataclass
class PageSocket:
    """A page's websocket; when the server closes it unexpectedly, the failure shows its output."""

    ws: ClientConnection
    live: LiveServer

    def __enter__(self) -> PageSocket:
        self.ws.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.ws.__exit__(*exc_info)

    def send(self, text: str) -> None:
        self.ws.send(text)

    def receive(self, timeout: float = 5) -> str | bytes:
        try:
            return self.ws.recv(timeout=timeout)
        except ConnectionClosed as exc:
            raise AssertionError(f"{exc!r}; the server's output:\n{self.live.log()}") from exc

    def receive_json(self) -> Any:
        return json.loads(self.receive())

    def receives_nothing(self, timeout: float) -> bool:
        try:
            self.receive(timeout)
        except TimeoutError:
            return True
        return False


def refusal(open_socket: Callable[[], PageSocket]) -> int:
    """The HTTP status of a refused handshake."""
    with pytest.raises(InvalidStatus) as refused, open_socket():
        pass
    return refused.value.response.status_code


@contextmanager
def serve(project: Path, server: str) -> Iterator[LiveServer]:
    """``python manage.py runasgi`` in *project*, on a free port."""
    with runasgi(project, "127.0.0.1:0", "--server", server) as live:
        log = live.log()
        assert "System check identified no issues" in log, log
        assert "unapplied migration" not in log, log
        yield live


@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def server(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# Try the echo -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def echo_site(tutorial: Tutorial, server: str) -> Iterator[LiveServer]:
    with serve(tutorial.served[0], server) as live:
        yield live


def on_live(url: str, live: LiveServer) -> str:
    assert PAGE_ADDRESS in url, url
    return url.replace(PAGE_ADDRESS, f"{live.host}:{live.port}")


def test_the_websockets_client_gets_its_lines_back(
    tutorial: Tutorial, echo_site: LiveServer
) -> None:
    assert tutorial.client_uris
    for uri in tutorial.client_uris:
        with connect(on_live(uri, echo_site), open_timeout=5) as ws:  # no Origin, as that client
            for line in ["hello", "and again"]:
                ws.send(line)
                assert ws.recv(timeout=5) == line


def page_scripts_sockets() -> list[str]:
    """The addresses the page's JavaScript snippets open."""
    scripts = [
        block.text
        for block in code_blocks(TUTORIAL.read_text(encoding="utf-8"))
        if block.language == "javascript"
    ]
    return [url for script in scripts for url in re.findall(r'new WebSocket\("([^"]+)"\)', script)]


def test_the_browser_console_snippet_is_answered(echo_site: LiveServer) -> None:
    browser = Browser(echo_site)
    landing, _ = browser.open("/")
    assert landing == "/"
    urls = page_scripts_sockets()
    assert urls
    for url in urls:
        path = urllib.parse.urlsplit(url).path
        with browser.websocket(path) as ws:
            ws.send("hello")
            assert ws.receive() == "hello"
        assert refusal(functools.partial(browser.websocket, path, FOREIGN_ORIGIN)) == 403


# Chat -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chat_site(tutorial: Tutorial, server: str) -> Iterator[LiveServer]:
    with serve(tutorial.served[1], server) as live:
        yield live


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright; skipped without them, except in CI."""
    with launch_chromium() as browser:
        yield browser


@dataclass
class Visitor:
    browser: Browser
    socket_path: str


def enter_room(live: LiveServer, username: str, room: str) -> Visitor:
    """Log in on the way to the room's page, as the tutorial says; the socket its script opens."""
    browser = Browser(live)
    landing, page = browser.log_in(f"/chat/{room}/", username)
    assert landing == f"/chat/{room}/"
    assert f"You are {username}." in page
    # The URL the websocket_url tag gave the page's script.
    url = re.search(r'<script id="socket-url" type="application/json">(.*?)</script>', page)
    assert url is not None
    expected_start = f"ws://{live.host}:{live.port}/"
    assert json.loads(url[1]).startswith(expected_start), url[1]
    return Visitor(browser, "/" + json.loads(url[1])[len(expected_start) :])


def test_a_visitor_is_sent_to_the_login_page(chat_site: LiveServer) -> None:
    landing, page = Browser(chat_site).open("/chat/lobby/")
    assert landing == "/admin/login/?next=/chat/lobby/"
    assert 'name="password"' in page


def test_two_users_chat_in_a_room(tutorial: Tutorial, chat_site: LiveServer) -> None:
    alice, bob = (enter_room(chat_site, username, "lobby") for username in tutorial.users)
    elsewhere = enter_room(chat_site, tutorial.users[1], "tea")
    with (
        alice.browser.websocket(alice.socket_path) as alice_ws,
        bob.browser.websocket(bob.socket_path) as bob_ws,
        elsewhere.browser.websocket(elsewhere.socket_path) as tea_ws,
    ):
        alice_ws.send(json.dumps({"text": "Hello, Bob"}))
        said = {"user": tutorial.users[0], "text": "Hello, Bob"}
        assert bob_ws.receive_json() == said
        assert alice_ws.receive_json() == said
        bob_ws.send(json.dumps({"text": "  Hi Alice  "}))
        said = {"user": tutorial.users[1], "text": "Hi Alice"}
        assert alice_ws.receive_json() == said
        assert bob_ws.receive_json() == said
        # What the page never sends is ignored.
        bob_ws.send(json.dumps({"text": "   "}))
        bob_ws.send(json.dumps(["not", "a", "message"]))
        assert tea_ws.receives_nothing(0.3)
        assert bob_ws.receives_nothing(0.1)
        tea_ws.send(json.dumps({"text": "Tea, anyone?"}))
        assert tea_ws.receive_json()["text"] == "Tea, anyone?"
        assert alice_ws.receives_nothing(0.1)


def test_a_socket_without_a_login_is_refused(chat_site: LiveServer) -> None:
    browser = Browser(chat_site)
    browser.open("/chat/lobby/")  # the login page: a csrftoken cookie, no session
    assert refusal(lambda: browser.websocket("/ws/chat/lobby/")) == 403


def test_a_room_name_too_long_for_a_group_is_not_found(
    tutorial: Tutorial, chat_site: LiveServer, server: str
) -> None:
    alice = enter_room(chat_site, tutorial.users[0], "lobby")
    # daphne cannot answer a refused handshake with a status of our choosing: 403.
    not_found = 404 if server == "uvicorn" else 403
    assert refusal(lambda: alice.browser.websocket(f"/ws/chat/{'a' * 51}/")) == not_found
    with alice.browser.websocket(f"/ws/chat/{'a' * 50}/") as longest:
        longest.send(json.dumps({"text": "still a room"}))
        assert longest.receive_json()["text"] == "still a room"


def test_a_page_of_another_site_is_refused(tutorial: Tutorial, chat_site: LiveServer) -> None:
    alice = enter_room(chat_site, tutorial.users[0], "lobby")
    with alice.browser.websocket(alice.socket_path):
        pass
    assert refusal(lambda: alice.browser.websocket(alice.socket_path, FOREIGN_ORIGIN)) == 403


def test_the_room_page_works_in_a_browser(
    tutorial: Tutorial, chat_site: LiveServer, chromium: Any
) -> None:
    """The template's own JavaScript, in Chromium: two people, one room, markup shown as text."""
    from playwright.sync_api import expect  # the chromium fixture skips without it

    pages = []
    for username in tutorial.users:
        page = chromium.new_context().new_page()
        page.goto(f"http://{chat_site.host}:{chat_site.port}/chat/lobby/")
        page.fill('input[name="username"]', username)
        page.fill('input[name="password"]', PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_text("Connected.")).to_be_visible()
        pages.append(page)
    first, second = pages
    first.get_by_role("textbox").fill("Hello <b>there</b>")
    first.get_by_role("textbox").press("Enter")
    second.get_by_role("textbox").fill("Hi")
    second.get_by_role("button", name="Send").click()
    for page in pages:
        expect(page.get_by_role("listitem")).to_have_text(
            [f"{tutorial.users[0]}: Hello <b>there</b>", f"{tutorial.users[1]}: Hi"]
        )
        page.context.close()


# Test it ----------------------------------------------------------------------------


def test_the_tutorials_tests_pass(tutorial: Tutorial) -> None:
    for argv in tutorial.tests:
        result = run(argv, tutorial.project)
        ran = re.search(r"^Ran (\d+) tests? ", result.stderr, re.MULTILINE)
        assert ran is not None, result.stderr
        assert int(ran[1]) >= 3
        assert re.search(r"^OK$", result.stderr, re.MULTILINE), result.stderr
