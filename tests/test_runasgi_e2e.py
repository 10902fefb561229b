"""``python manage.py runasgi`` as a developer runs it, on uvicorn and on daphne.

Every test runs a copy of ``tests/runasgi_project`` in a subprocess of its own
session (so a Ctrl-C can reach the whole process group, as a terminal sends it)
and talks to it with a real websocket client. Tests that only read share one
running server per server type; tests that edit files or stop the server start
their own.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import django
import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect

from tests.live import QUIT_LINE, LiveServer, child_env, recording_logger, runasgi

pytestmark = pytest.mark.e2e

TEMPLATE = Path(__file__).resolve().parent / "runasgi_project"
SERVERS = ["uvicorn", "daphne"]
VIEWS_V1 = 'VERSION = "v1"'
VIEWS_V2 = 'VERSION = "v2"'


# A project, its processes, and its output --------------------------------------------


def make_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(TEMPLATE, project, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    return project


def manage(
    project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run a management command to completion."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=env or child_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
    )


def wait_for_output(live: LiveServer, pattern: str, since: int = 0, timeout: float = 10) -> str:
    """The output after *since* characters, once it matches the regular expression *pattern*."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, live.log()[since:]):
            return live.log()[since:]
        time.sleep(0.02)
    raise AssertionError(f"{pattern!r} never appeared in the output:\n{live.log()[since:]}")


def ws_url(live: LiveServer, path: str) -> str:
    host = "127.0.0.1" if live.host == "0.0.0.0" else live.host
    return f"ws://{host}:{live.port}{path}"


def http_get(live: LiveServer, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{live.port}{path}", timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def free_port(family: socket.AddressFamily = socket.AF_INET, host: str = "127.0.0.1") -> int:
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# The websocket side ------------------------------------------------------------------


def say_hello(ws: ClientConnection) -> None:
    ws.send("hello")
    assert ws.recv(timeout=5) == "v1:hello"


def close_code(ws: ClientConnection, timeout: float = 10) -> int | None:
    """Read until the server closes the connection; the code of its close frame."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=timeout)
    frame = closed.value.rcvd
    return frame.code if frame else None


def answer(live: LiveServer, text: str = "ping") -> str:
    with connect(ws_url(live, "/ws/echo/"), open_timeout=10, proxy=None) as ws:
        ws.send(text)
        reply = ws.recv(timeout=10)
        assert isinstance(reply, str)
        return reply


def wait_for_answer(
    live: LiveServer, expected: str, text: str = "ping", timeout: float = 20
) -> None:
    """Connect again and again until the echo view answers *expected*."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = answer(live, text)
        except (OSError, InvalidHandshake, ConnectionClosed) as exc:
            last = exc
        if last == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"Never answered {expected!r} (last: {last!r}):\n{live.log()}")


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


# One running server per server type, for the tests that only read ---------------------


@pytest.fixture(scope="module", params=SERVERS)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, LiveServer]]:
    project = make_project(tmp_path_factory.mktemp(f"runasgi-{request.param}"))
    with runasgi(project, "127.0.0.1:0", "--server", request.param) as live:
        yield request.param, live


def test_starts_with_runservers_banner_and_logs_websocket_connections(
    shared: tuple[str, LiveServer],
) -> None:
    server, live = shared
    banner = live.log()
    assert f"Django version {django.get_version()}, using settings 'mysite.settings'" in banner
    expected = f"Starting ASGI server ({server} {version(server)}) at http://127.0.0.1:{live.port}/"
    assert expected in banner
    assert QUIT_LINE in banner
    since = len(live.log())
    with connect(ws_url(live, "/ws/echo/"), proxy=None) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "v1:hello"
    log = wait_for_output(live, r"WebSocket DISCONNECT /ws/echo/ .* 1000\b", since)
    assert re.search(r"WebSocket CONNECT /ws/echo/ \[127\.0\.0\.1:\d+\]", log), log


def test_serves_static_files_in_debug(shared: tuple[str, LiveServer]) -> None:
    _, live = shared
    assert http_get(live, "/static/polls/hello.txt") == (200, b"hello from polls\n")
    assert http_get(live, "/hello/") == (200, b"v1:hello over http")


def test_warns_about_unapplied_migrations(shared: tuple[str, LiveServer]) -> None:
    _, live = shared
    assert "unapplied migration(s)" in live.log()
    assert "Run 'python manage.py migrate' to apply them." in live.log()


@pytest.mark.parametrize(
    ("path", "message", "code", "reason"),
    [
        pytest.param("/ws/crash/", "x", 1011, "", id="exception after accept"),
        pytest.param("/ws/json/", "{not json", 1007, "Malformed JSON.", id="malformed JSON"),
        pytest.param(
            "/ws/text/",
            b"\x00",
            1003,
            "Expected a text message, got a binary one.",
            id="binary frame to a text view",
        ),
        pytest.param("/ws/echo/", "x" * 2000, 1009, None, id="message over the size limit"),
    ],
)
def test_close_codes_are_the_same_on_both_servers(
    shared: tuple[str, LiveServer], path: str, message: str | bytes, code: int, reason: str | None
) -> None:
    _, live = shared
    since = len(live.log())
    # No compression: the 2000 bytes must reach the server as 2000 bytes.
    with connect(ws_url(live, path), compression=None, proxy=None) as ws:
        ws.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    frame = closed.value.rcvd
    assert frame is not None, "the server dropped the connection without a close frame"
    assert frame.code == code
    if reason is not None:
        assert frame.reason == reason
    if code == 1011:
        wait_for_output(live, "Internal error in websocket view for /ws/crash/", since)


def test_a_view_blocking_the_loop_is_named_on_the_console(
    shared: tuple[str, LiveServer],
) -> None:
    # The project configures no logging: the warning shows all the same.
    _, live = shared
    since = len(live.log())
    with connect(ws_url(live, "/ws/block/"), proxy=None) as ws:
        ws.send("1.5")
        assert ws.recv(timeout=10) == "slept"
    log = wait_for_output(live, r"Stack \(most recent call last\):\n(  .*\n)+", since)
    assert re.search(
        r"Event loop blocked for 0\.\d\d s so far by websocket view mysite\.views\.block "
        r"\(/ws/block/\): every other connection of this process waits until it returns\.\n"
        r"Stack \(most recent call last\):\n(  .*\n)*"
        r'  File ".*/mysite/views\.py", line \d+, in block\n'
        r"    time\.sleep\(float\(text\)\)  # noqa: ASYNC251\n",
        log,
    ), log


def test_json_view_answers_through_runasgi(shared: tuple[str, LiveServer]) -> None:
    _, live = shared
    with connect(ws_url(live, "/ws/json/"), proxy=None) as ws:
        ws.send('{"a": 1}')
        assert ws.recv(timeout=5) == '{"version":"v1","data":{"a":1}}'


# The [addr:]port argument --------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize(
    ("addrport", "shown_host"),
    [
        ("127.0.0.1:0", "127.0.0.1"),
        ("0:0", "0.0.0.0"),
        ("[::1]:0", "[::1]"),
        ("localhost:0", "localhost"),
        ("PORT", "127.0.0.1"),  # a bare port number
    ],
)
def test_each_addrport_form_binds_and_serves(
    tmp_path: Path, server: str, addrport: str, shown_host: str
) -> None:
    if addrport.startswith("[::1]") and not ipv6_available():
        pytest.skip("IPv6 is not available here")
    if addrport == "PORT":
        addrport = str(free_port())
    project = make_project(tmp_path)
    with runasgi(project, addrport, "--server", server, "--noreload") as live:
        assert live.host == shown_host
        if addrport.isdigit():
            assert live.port == int(addrport)
        assert f"Starting ASGI server ({server} " in live.log()
        assert answer(live, "where") == "v1:where"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["abc"], '"abc" is not a valid port number or address:port pair.'),
        (["127.0.0.1:99999"], "99999 is not a valid port number (0-65535)."),
        (["[::1]"], '"[::1]" is not a valid port number or address:port pair.'),
        (["--ipv6", "127.0.0.1:8000"], '"127.0.0.1" is not a valid IPv6 address.'),
    ],
    ids=["not a port", "port too big", "ipv6 without port", "--ipv6 with an ipv4 address"],
)
def test_bad_addrport_is_a_command_error(tmp_path: Path, args: list[str], message: str) -> None:
    project = make_project(tmp_path)
    result = manage(project, "runasgi", *args, "--noreload", timeout=20)
    assert result.returncode != 0
    assert f"CommandError: {message}" in result.stderr, result.stderr
    assert "Starting ASGI server" not in result.stdout


@pytest.mark.parametrize("server", SERVERS)
def test_port_in_use_is_reported_and_exits_1(tmp_path: Path, server: str) -> None:
    project = make_project(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = manage(project, "runasgi", f"127.0.0.1:{port}", "--server", server, timeout=20)
    assert result.returncode == 1
    assert "That port is already in use." in result.stderr, result.stderr


# Reloading ------------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_an_edit_closes_open_websockets_with_1012_and_serves_the_new_code(
    tmp_path: Path, server: str
) -> None:
    project = make_project(tmp_path)
    with runasgi(project, "127.0.0.1:0", "--server", server) as live:
        with (
            connect(ws_url(live, "/ws/echo/"), proxy=None) as echo,
            connect(ws_url(live, "/ws/wait/"), proxy=None) as waiter,
        ):
            say_hello(echo)
            since = len(live.log())
            replace_in(project / "mysite" / "views.py", VIEWS_V1, VIEWS_V2)
            assert close_code(echo) == 1012
            assert close_code(waiter) == 1012
        wait_for_output(live, "cleanup ran", since)
        wait_for_output(live, "wait saw close code 1012", since)
        wait_for_answer(live, "v2:ping")
        assert live.process.poll() is None


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("broken", ["mysite/views.py", "polls/models.py"])
def test_recovers_from_a_syntax_error(tmp_path: Path, server: str, broken: str) -> None:
    project = make_project(tmp_path)
    path = project / broken
    source = path.read_text()
    with runasgi(project, "127.0.0.1:0", "--server", server) as live:
        assert answer(live) == "v1:ping"
        since = len(live.log())
        path.write_text(source + "\n)\n")
        wait_for_output(live, "SyntaxError", since)
        assert live.process.poll() is None, live.log()
        if broken == "mysite/views.py":
            path.write_text(source.replace(VIEWS_V1, VIEWS_V2))
            wait_for_answer(live, "v2:ping")
        else:
            path.write_text(source)
            wait_for_answer(live, "v1:ping")
        assert live.process.poll() is None


@pytest.mark.parametrize("server", SERVERS)
def test_noreload_keeps_serving_the_code_it_started_with(tmp_path: Path, server: str) -> None:
    """An edit that a reloading runasgi of the same project acts on (it closes its sockets
    with 1012 and serves the new code) leaves one started with --noreload as it was: the
    socket opened before the edit stays open, and every answer comes from the old code."""
    project = make_project(tmp_path)
    with (
        runasgi(project, "127.0.0.1:0", "--server", server, "--noreload") as live,
        runasgi(project, "127.0.0.1:0", "--server", server) as reloading,
        connect(ws_url(live, "/ws/echo/"), proxy=None) as kept,
        connect(ws_url(reloading, "/ws/echo/"), proxy=None) as closed,
    ):
        say_hello(kept)
        say_hello(closed)
        replace_in(project / "mysite" / "views.py", VIEWS_V1, VIEWS_V2)
        assert close_code(closed) == 1012
        wait_for_answer(reloading, "v2:ping")
        say_hello(kept)
        assert answer(live) == "v1:ping"
        assert "changed, reloading." in reloading.log()
        assert "changed, reloading." not in live.log()
        assert live.process.poll() is None


# Stopping -----------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("reload", [True, False], ids=["reload", "noreload"])
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_and_sigterm_close_websockets_with_1001_and_exit_0(
    tmp_path: Path, server: str, reload: bool, how: str
) -> None:
    project = make_project(tmp_path)
    args = ["127.0.0.1:0", "--server", server, *([] if reload else ["--noreload"])]
    with runasgi(project, *args) as live:
        with (
            connect(ws_url(live, "/ws/echo/"), proxy=None) as echo,
            connect(ws_url(live, "/ws/wait/"), proxy=None) as waiter,
        ):
            say_hello(echo)
            since = len(live.log())
            if how == "ctrl-c":
                os.killpg(live.process.pid, signal.SIGINT)  # what a terminal does
            else:
                live.process.send_signal(signal.SIGTERM)
            assert close_code(echo) == 1001
            assert close_code(waiter) == 1001
        assert live.process.wait(10) == 0, live.log()
        wait_for_output(live, "cleanup ran", since)
        wait_for_output(live, "wait saw close code 1001", since)


# Static files and migrations ----------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_nostatic_leaves_static_urls_to_django(tmp_path: Path, server: str) -> None:
    project = make_project(tmp_path)
    with runasgi(project, "127.0.0.1:0", "--server", server, "--nostatic", "--noreload") as live:
        assert http_get(live, "/static/polls/hello.txt")[0] == 404
        assert http_get(live, "/hello/") == (200, b"v1:hello over http")


def test_no_migrations_warning_once_migrated(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    migrated = manage(project, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "Applying polls.0001_initial... OK" in migrated.stdout
    with runasgi(project, "127.0.0.1:0", "--noreload") as live:
        assert "unapplied migration(s)" not in live.log()


# A server that cannot serve websockets ------------------------------------------------

# Imported first by every Python process started with this directory on PYTHONPATH:
# the named packages become invisible to importlib.util.find_spec and to import.
HIDE_PACKAGES = """\
import sys

HIDDEN = {hidden!r}


class Hiding:
    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            return None
        return self.finder.find_spec(name, path, target)

    def __getattr__(self, attribute):
        return getattr(self.finder, attribute)


sys.meta_path[:] = [Hiding(finder) for finder in sys.meta_path]
"""


def env_without(tmp_path: Path, *packages: str) -> dict[str, str]:
    site = tmp_path / "hide"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HIDE_PACKAGES.format(hidden=set(packages)))
    path = os.pathsep.join(p for p in [str(site), os.environ.get("PYTHONPATH", "")] if p)
    env = child_env(PYTHONPATH=path)
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util, django;"
            f"print([importlib.util.find_spec(name) for name in {packages!r}])",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == repr([None] * len(packages)), probe.stdout + probe.stderr
    return env


@pytest.mark.parametrize(
    ("server", "hidden", "message"),
    [
        ("uvicorn", ("websockets", "wsproto"), "pip install 'uvicorn[standard]'"),
        ("daphne", ("daphne",), "pip install 'django-asgi-ws[daphne]'"),
    ],
)
def test_a_server_that_cannot_serve_websockets_is_refused_before_binding(
    tmp_path: Path, server: str, hidden: tuple[str, ...], message: str
) -> None:
    project = make_project(tmp_path)
    env = env_without(tmp_path, *hidden)
    # The port is taken: had runasgi bound it first, it would complain about that instead.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = manage(project, "runasgi", f"127.0.0.1:{port}", "--server", server, env=env)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "already in use" not in result.stderr
    assert "Starting ASGI server" not in result.stdout


def test_keepalive_pings_follow_websocket_ping_interval(shared: tuple[str, LiveServer]) -> None:
    """WEBSOCKET_PING_INTERVAL = 1 in the project: an idle socket is pinged on both servers."""
    _, live = shared
    client_logger, records = recording_logger("tests.pings")
    with connect(ws_url(live, "/ws/echo/"), logger=client_logger) as ws:
        time.sleep(3.5)  # daphne checks its timers every 2 s
        say_hello(ws)  # still open: the pings were answered
    pings = [r for r in records if r.getMessage().startswith("< PING")]
    assert pings, [r.getMessage() for r in records]
