"""Reloads forked from runasgi's warm parent, as a developer sees them, on uvicorn and daphne.

After the first reload, server processes are forked by a warm parent that has
imported Django, the server and the third-party packages, never the project;
the project's code is imported fresh in each, and a third-party package that
changes under the warm parent is imported fresh too.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import sysconfig
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.live import LiveServer, runasgi
from tests.test_runasgi_e2e import (
    SERVERS,
    VIEWS_V1,
    VIEWS_V2,
    http_get,
    make_project,
    replace_in,
    wait_for_answer,
)

pytestmark = pytest.mark.e2e

T = TypeVar("T")


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if parent_of(int(entry.name)) == pid:
                    children.append(int(entry.name))
    return children


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def warm_parents(live: LiveServer) -> list[int]:
    return [
        pid
        for pid in children_of(live.process.pid)
        if "django_asgi_ws.warm_parent" in command_line(pid)
    ]


def wait_until(condition: Callable[[], T | None], failure: Callable[[], str]) -> T:
    """What *condition* returns once it is not None (or false), within 10 s."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    raise AssertionError(failure())


def wait_for_forked_server_process(live: LiveServer) -> int:
    """The pid of a server process whose parent is a warm parent."""

    def forked() -> int | None:
        pids = [pid for parent in warm_parents(live) for pid in children_of(parent)]
        return pids[0] if pids else None

    return wait_until(forked, lambda: f"No server process forked by a warm parent:\n{live.log()}")


def reload_twice(live: LiveServer, views: Path, answer: str) -> int:
    """Edit the views twice; then the warm parent has imported what they use.

    The pid of the server process it forked.
    """
    replace_in(views, VIEWS_V1, VIEWS_V2)
    wait_for_answer(live, f"v2:{answer}")
    replace_in(views, VIEWS_V2, 'VERSION = "v3"')
    wait_for_answer(live, f"v3:{answer}")
    return wait_for_forked_server_process(live)


def has_exited(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state == "Z"


@pytest.fixture
def third_party_module() -> Iterator[tuple[str, Path]]:
    """A module installed beside the third-party packages, removed afterwards."""
    name = f"warm_start_dependency_{uuid.uuid4().hex[:8]}"
    path = Path(sysconfig.get_paths()["purelib"]) / f"{name}.py"
    path.write_text('VALUE = "dependency-1"\n')
    try:
        yield name, path
    finally:
        path.unlink()
        for cached in path.parent.joinpath("__pycache__").glob(f"{name}.*"):
            cached.unlink()


@pytest.mark.parametrize("server", SERVERS)
def test_reloads_are_forked_from_a_warm_parent_and_serve_the_new_code(
    tmp_path: Path, server: str
) -> None:
    project = make_project(tmp_path)
    views = project / "mysite" / "views.py"
    with runasgi(project, "127.0.0.1:0", "--server", server) as live:
        wait_for_answer(live, "v1:ping")
        forked = reload_twice(live, views, "ping")
        # It runs manage.py as a new interpreter would, with the project's code fresh.
        replace_in(views, 'VERSION = "v3"', 'VERSION = "v4"')
        wait_for_answer(live, "v4:ping")
        # It finished its views, while the next one served.
        wait_until(lambda: has_exited(forked), lambda: f"Process {forked} still runs")
        assert wait_for_forked_server_process(live) != forked
        assert live.process.poll() is None, live.log()


@pytest.mark.parametrize("server", SERVERS)
def test_a_third_party_module_changed_under_the_warm_parent_is_never_served_stale(
    tmp_path: Path, server: str, third_party_module: tuple[str, Path]
) -> None:
    name, module = third_party_module
    project = make_project(tmp_path)
    views = project / "mysite" / "views.py"
    replace_in(
        views,
        'await websocket.send_text(f"{VERSION}:{text}")',
        f'await websocket.send_text(f"{{VERSION}}:{{{name}.VALUE}}:{{text}}")',
    )
    replace_in(views, "from typing import Any\n", f"from typing import Any\n\nimport {name}\n")
    with runasgi(project, "127.0.0.1:0", "--server", server) as live:
        wait_for_answer(live, "v1:dependency-1:ping")
        reload_twice(live, views, "dependency-1:ping")
        time.sleep(1.1)  # a new modification time, whatever the file system's resolution
        module.write_text('VALUE = "dependency-2"\n')
        os.utime(module)
        wait_for_answer(live, "v3:dependency-2:ping")
        assert live.process.poll() is None, live.log()


def test_warm_starts_can_be_turned_off(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\nRUNASGI_WARM_START = False\n")
    views = project / "mysite" / "views.py"
    with runasgi(project, "127.0.0.1:0") as live:
        wait_for_answer(live, "v1:ping")
        replace_in(views, VIEWS_V1, VIEWS_V2)
        wait_for_answer(live, "v2:ping")
        replace_in(views, VIEWS_V2, 'VERSION = "v3"')
        wait_for_answer(live, "v3:ping")
        assert warm_parents(live) == []
        for server_process in children_of(live.process.pid):  # the last one, or two at most
            assert "manage.py runasgi" in command_line(server_process)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def session_processes(live: LiveServer) -> list[int]:
    """The processes of the command's session, zombies left out."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
                if int(fields[3]) == live.process.pid and fields[0] != "Z":
                    members.append(int(entry.name))
    return members


def test_a_hundred_reloads_leave_no_descriptor_process_or_memory_behind(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    views = project / "mysite" / "views.py"
    with runasgi(project, "127.0.0.1:0") as live:
        supervisor = live.process.pid
        version = "v1"
        for number in range(2, 102):
            new = f"v{number}"
            replace_in(views, f'VERSION = "{version}"', f'VERSION = "{new}"')
            wait_for_answer(live, f"{new}:ping")
            version = new
            if number == 11:
                fds, rss = open_fds(supervisor), rss_kib(supervisor)
        # The supervisor, the warm parent and the server process it forked, once
        # the last ones finished their views.
        wait_until(lambda: len(session_processes(live)) == 3, lambda: str(session_processes(live)))
        assert open_fds(supervisor) == fds
        assert rss_kib(supervisor) - rss < 4 * 1024
        assert live.process.poll() is None


@pytest.mark.parametrize("server", SERVERS)
def test_no_connection_is_refused_while_the_next_server_process_starts(
    tmp_path: Path, server: str
) -> None:
    project = make_project(tmp_path)
    views = project / "mysite" / "views.py"
    failed: list[Exception] = []
    answers: set[bytes] = set()
    done = threading.Event()
    with runasgi(project, "127.0.0.1:0", "--server", server) as live:

        def ask_again_and_again() -> None:
            while not done.is_set():
                try:
                    status, body = http_get(live, "/hello/")
                except (OSError, http.client.HTTPException) as exc:
                    failed.append(exc)
                else:
                    if status == 200:
                        answers.add(body)

        asker = threading.Thread(target=ask_again_and_again)
        asker.start()
        try:
            version = "v1"
            for number in range(2, 7):
                replace_in(views, f'VERSION = "{version}"', f'VERSION = "v{number}"')
                version = f"v{number}"
                wait_for_answer(live, f"{version}:ping")
        finally:
            done.set()
            asker.join()
    assert failed == []
    assert b"v6:hello over http" in answers


@pytest.mark.parametrize("server", SERVERS)
def test_two_edits_of_the_same_size_within_one_second_both_serve(
    tmp_path: Path, server: str
) -> None:
    """Python checks bytecode against the source's size and whole-second time."""
    project = make_project(tmp_path)
    views = project / "mysite" / "views.py"
    second = int(time.time()) + 100  # the same whole second for both edits
    with runasgi(project, "127.0.0.1:0", "--server", server) as live:
        wait_for_answer(live, "v1:ping")
        replace_in(views, VIEWS_V1, VIEWS_V2)
        os.utime(views, (second + 0.25, second + 0.25))
        wait_for_answer(live, "v2:ping")
        replace_in(views, VIEWS_V2, 'VERSION = "v3"')
        os.utime(views, (second + 0.5, second + 0.5))
        wait_for_answer(live, "v3:ping")
