"""The watchfiles reloader in the server process, driven tick by tick in the test thread."""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import autoreload

from django_asgi_ws import supervisor as supervisor_module
from django_asgi_ws.reloader import WatchfilesReloader
from django_asgi_ws.supervisor import Supervisor, project_roots

DELAY = 0.3  # before a change is made, so that the watch is in place by then
TIMEOUT = 3.0  # how long the reloader gets to report it


def age(path: Path, seconds: float = 60.0) -> None:
    """Date the file back, as if written well before the server started."""
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path; the modules imported from it are forgotten afterwards."""
    folder = tmp_path.resolve()
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        module_file = getattr(sys.modules[name], "__file__", None) or ""
        if module_file.startswith(str(folder)):
            del sys.modules[name]


@pytest.fixture
def make_module(folder: Path) -> Callable[..., Path]:
    """Write and import a module, dated before the server started; return its path."""

    def make(directory: Path = folder) -> Path:
        name = f"reloaded_{uuid.uuid4().hex}"
        path = directory / f"{name}.py"
        path.write_text("VALUE = 1\n")
        age(path)
        importlib.invalidate_caches()
        importlib.import_module(name)
        return path

    return make


@pytest.fixture
def module(make_module: Callable[..., Path]) -> Path:
    return make_module()


@pytest.fixture
def unrelated(folder: Path) -> Path:
    """A Python file beside the module that nothing imports."""
    path = folder / "not_imported.py"
    path.write_text("VALUE = 1\n")
    age(path)
    return path


def modify(path: Path) -> None:
    path.write_text(path.read_text() + "VALUE = 2\n")


def modify_later(*paths: Path) -> threading.Event:
    """Modify the files one after the other, DELAY apart, once the watch is in place.

    Returns the event to set when it is (tick_until sets it after the first tick).
    """
    watching = threading.Event()

    def run() -> None:
        watching.wait(TIMEOUT)
        for path in paths:
            time.sleep(DELAY)
            modify(path)

    threading.Thread(target=run, daemon=True).start()
    return watching


def tick_until(
    reloader: WatchfilesReloader,
    done: Callable[[], bool],
    watching: threading.Event | None = None,
) -> None:
    ticker = reloader.tick()
    deadline = time.monotonic() + TIMEOUT
    try:
        next(ticker)  # the watch is built before the first tick ends
        if watching is not None:
            watching.set()
        while not done() and time.monotonic() < deadline:
            next(ticker)
    finally:
        ticker.close()


def tick_once(reloader: WatchfilesReloader) -> None:
    """Build the watch once: the first build compares modification times."""
    ticker = reloader.tick()
    try:
        next(ticker)
    finally:
        ticker.close()


@pytest.fixture
def file_changed_receiver() -> Iterator[Callable[[Any], list[Path]]]:
    """Connect a file_changed receiver returning the given value; return the paths it saw."""
    receivers: list[Callable[..., Any]] = []

    def connect(result: Any) -> list[Path]:
        seen: list[Path] = []

        def receiver(sender: Any, file_path: Path, **kwargs: Any) -> Any:
            seen.append(file_path)
            return result

        autoreload.file_changed.connect(receiver)
        receivers.append(receiver)
        return seen

    yield connect
    for receiver in receivers:
        autoreload.file_changed.disconnect(receiver)


# Changes while watching ----------------------------------------------------------------


def test_a_change_to_an_imported_module_calls_on_change_with_its_path(module: Path) -> None:
    changed: list[Path] = []
    reloader = WatchfilesReloader(changed.append)
    watching = modify_later(module)
    tick_until(reloader, lambda: module in changed, watching)
    assert module in changed


def test_an_unimported_python_file_is_ignored_while_serving(module: Path, unrelated: Path) -> None:
    changed: list[Path] = []
    reloader = WatchfilesReloader(changed.append, serving=lambda: True)
    watching = modify_later(unrelated, module)  # the module's change shows the watch ran
    tick_until(reloader, lambda: module in changed, watching)
    assert module in changed
    assert unrelated not in changed


def test_once_serving_failed_any_python_file_beside_a_module_counts(
    module: Path, unrelated: Path
) -> None:
    changed: list[Path] = []
    reloader = WatchfilesReloader(changed.append, serving=lambda: False)
    watching = modify_later(unrelated)
    tick_until(reloader, lambda: unrelated in changed, watching)
    assert unrelated in changed


def test_once_serving_failed_other_files_beside_a_module_are_still_ignored(
    module: Path, unrelated: Path, folder: Path
) -> None:
    notes = folder / "notes.txt"
    notes.write_text("todo\n")
    changed: list[Path] = []
    reloader = WatchfilesReloader(changed.append, serving=lambda: False)
    watching = modify_later(notes, unrelated)
    tick_until(reloader, lambda: unrelated in changed, watching)
    assert unrelated in changed
    assert notes not in changed


def test_once_serving_failed_a_python_file_beside_a_module_saved_before_the_watch_counts(
    module: Path, unrelated: Path
) -> None:
    """The fix of a module whose import failed, saved while the watch was being built."""
    changed: list[Path] = []
    reloader = WatchfilesReloader(changed.append, serving=lambda: False, started=time.time() - 5)
    modify(unrelated)
    tick_once(reloader)
    assert unrelated in changed


def test_serving_failing_while_watching_compares_the_files_beside_the_modules_again(
    module: Path, unrelated: Path
) -> None:
    """A fix saved between the failure and the moment the watch knows of it is not lost."""
    changed: list[Path] = []
    serving = [True]
    reloader = WatchfilesReloader(changed.append, serving=lambda: serving[0], started=time.time())
    ticker = reloader.tick()
    try:
        next(ticker)  # the watch is in place, serving
        modify(unrelated)  # not relevant yet: its event is dropped
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            next(ticker)
        assert unrelated not in changed
        serving[0] = False  # the import of the edited module failed
        deadline = time.monotonic() + TIMEOUT
        while unrelated not in changed and time.monotonic() < deadline:
            next(ticker)
    finally:
        ticker.close()
    assert unrelated in changed


def test_a_module_imported_while_watching_is_watched_too(
    module: Path, make_module: Callable[..., Path], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = folder / "elsewhere"  # a folder the first watch does not cover
    elsewhere.mkdir()
    monkeypatch.syspath_prepend(str(elsewhere))
    changed: list[Path] = []
    reloader = WatchfilesReloader(changed.append)
    ticker = reloader.tick()
    try:
        next(ticker)  # the watch is built before the import
        late = make_module(elsewhere)
        modify_later(late).set()
        deadline = time.monotonic() + TIMEOUT
        while late not in changed and time.monotonic() < deadline:
            next(ticker)
    finally:
        ticker.close()
    assert late in changed


def test_stop_ends_the_ticking() -> None:
    reloader = WatchfilesReloader(lambda path: None)
    threading.Timer(DELAY, reloader.stop).start()
    ticker = reloader.tick()
    deadline = time.monotonic() + TIMEOUT
    with pytest.raises(StopIteration):
        while time.monotonic() < deadline:
            next(ticker)


# Changes before the watch is built --------------------------------------------------------


def test_a_change_after_start_but_before_the_first_build_calls_on_change(module: Path) -> None:
    changed: list[Path] = []
    reloader = WatchfilesReloader(changed.append, started=time.time() - 5)
    modify(module)  # after the process started, before the watch exists
    tick_once(reloader)
    assert module in changed


def test_a_file_last_changed_before_start_does_not_call_on_change(module: Path) -> None:
    changed: list[Path] = []
    reloader = WatchfilesReloader(changed.append, started=time.time() - 5)
    tick_once(reloader)  # the module is dated a minute back
    assert module not in changed


# The file_changed signal -------------------------------------------------------------------


def test_a_file_changed_receiver_returning_true_suppresses_on_change(
    module: Path, file_changed_receiver: Callable[[Any], list[Path]]
) -> None:
    seen = file_changed_receiver(True)
    changed: list[Path] = []
    reloader = WatchfilesReloader(changed.append, started=time.time() - 5)
    modify(module)
    tick_once(reloader)
    assert module in seen
    assert module not in changed


def test_a_file_changed_receiver_returning_nothing_lets_on_change_run(
    module: Path, file_changed_receiver: Callable[[Any], list[Path]]
) -> None:
    seen = file_changed_receiver(None)
    changed: list[Path] = []
    reloader = WatchfilesReloader(changed.append, started=time.time() - 5)
    modify(module)
    tick_once(reloader)
    assert module in seen
    assert module in changed


# project_roots -------------------------------------------------------------------------------

INSTALLATION = [Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}]


def test_project_roots_are_existing_directories() -> None:
    roots = project_roots()
    assert roots
    assert all(Path(root).is_dir() for root in roots)


def test_project_roots_are_never_inside_the_interpreters_installation() -> None:
    for root in project_roots():
        assert not any(Path(root).is_relative_to(prefix) for prefix in INSTALLATION)


def test_project_roots_include_the_folder_the_tests_are_imported_from() -> None:
    import tests

    assert str(Path(tests.__file__).resolve().parent.parent) in project_roots()


def test_the_installation_on_sys_path_is_not_a_project_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "path", [sys.prefix, *sys.path])
    assert str(Path(sys.prefix).resolve()) not in project_roots()


def test_without_any_project_folder_on_sys_path_the_current_directory_is_watched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "path", [sys.prefix])
    monkeypatch.chdir(tmp_path)
    assert project_roots() == [os.getcwd()]


def test_listing_files_is_retried_when_an_import_races_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reloader = WatchfilesReloader(lambda path: None)
    calls: list[int] = []

    def watched_files() -> Iterator[Path]:
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("mysite.ws_urls")  # removed from sys.modules mid-listing
        yield Path(__file__)

    monkeypatch.setattr(reloader, "watched_files", watched_files)
    assert reloader.snapshot_files() == {Path(__file__)}
    assert len(calls) == 2


# The supervisor, waiting for a fix after the server process failed to start -------------------


def wait_for_change_in_thread(supervisor: Supervisor) -> threading.Thread:
    thread = threading.Thread(target=supervisor._wait_for_change, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The only project root, holding one module last saved long ago."""
    root = tmp_path.resolve()
    saved_long_ago = root / "models.py"
    saved_long_ago.write_text("x = 1\n")
    age(saved_long_ago)
    monkeypatch.setattr("django_asgi_ws.supervisor.project_roots", lambda: [str(root)])
    return root


def test_the_supervisor_returns_at_once_for_a_file_saved_while_the_process_started(
    project: Path,
) -> None:
    supervisor = Supervisor(listen_fd=-1, grace_period=1)
    supervisor.started_at = time.time() - 5
    (project / "models.py").write_text("x = 2\n")
    thread = wait_for_change_in_thread(supervisor)
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_the_supervisor_waits_while_nothing_changes(project: Path) -> None:
    supervisor = Supervisor(listen_fd=-1, grace_period=1)
    thread = wait_for_change_in_thread(supervisor)
    thread.join(1.0)
    assert thread.is_alive()
    (project / "models.py").write_text("x = 2\n")
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_the_supervisor_ignores_files_that_are_not_python(project: Path) -> None:
    supervisor = Supervisor(listen_fd=-1, grace_period=1)
    thread = wait_for_change_in_thread(supervisor)
    time.sleep(DELAY)
    (project / "notes.txt").write_text("hello\n")
    thread.join(1.5)
    assert thread.is_alive()
    (project / "models.py").write_text("x = 3\n")
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_the_supervisor_sees_a_fix_saved_just_after_it_compared_modification_times(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fix lands between the comparison and the first event: it must not be missed."""
    supervisor = Supervisor(listen_fd=-1, grace_period=1)
    compare = supervisor_module._python_mtimes

    def compare_then_save(roots: list[str]) -> Iterator[float]:
        yield from compare(roots)
        (project / "models.py").write_text("x = 4\n")

    monkeypatch.setattr(supervisor_module, "_python_mtimes", compare_then_save)
    thread = wait_for_change_in_thread(supervisor)
    thread.join(TIMEOUT)
    assert not thread.is_alive()
