"""Autoreload for ``runasgi``: filesystem events instead of polling, and graceful restarts.

Two processes, as with Django's runserver:

- The *supervisor* (the process the user started; :mod:`django_asgi_ws.supervisor`)
  binds the listening socket once, starts the server process, restarts it when
  it exits with ``RESTART_EXIT_CODE``, and, if it dies while starting, waits for
  a file change and starts it again.
- The *server process* serves in a thread and watches every imported module,
  plus what Django asks to watch (templates, locale), with watchfiles. On a
  change it closes open websockets with 1012 (service restart), lets the views
  finish and exits with ``RESTART_EXIT_CODE``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from django.utils import autoreload

from django_asgi_ws.status import CloseCode

if TYPE_CHECKING:
    import watchfiles
from django_asgi_ws.warm_start import record_loaded_modules

logger = logging.getLogger("django.utils.autoreload")

RESTART_EXIT_CODE = 3  # the code Django's reloader uses too
# argparse's exit code for bad command-line arguments, which no file change can fix.
# (A port in use and a missing server are refused before any server process starts.)
FATAL_EXIT_CODE = 2
SERVER_PROCESS_ENV = "DJANGO_ASGI_WS_SERVER_PROCESS"
LISTEN_FD_ENV = "DJANGO_ASGI_WS_LISTEN_FD"
STARTED_ENV = "DJANGO_ASGI_WS_STARTED"
REPORT_FD_ENV = "DJANGO_ASGI_WS_REPORT_FD"
# How long a watch waits for a change before it yields anyway.
WATCH_TIMEOUT_MS = 100


def is_server_process() -> bool:
    return os.environ.get(SERVER_PROCESS_ENV) == "true"


class WatchfilesReloader(autoreload.BaseReloader):
    """Django's reloader contract (``autoreload_started``, ``file_changed``) on watchfiles."""

    def __init__(
        self,
        on_change: Callable[[Path], None],
        serving: Callable[[], bool] = lambda: True,
        started: float | None = None,
    ) -> None:
        super().__init__()
        self.on_change = on_change
        self.serving = serving
        # Files changed after this moment may have been imported before the change.
        self.started = time.time() if started is None else started

    def is_relevant(self, path: Path, watched: set[Path]) -> bool:
        """A watched file; or, once serving failed, any Python file beside one.

        A module whose import failed is not in sys.modules, and the check that
        reported the failure swallowed the exception, so its file is not known.
        """
        return path in watched or (path.suffix == ".py" and not self.serving())

    def tick(self) -> Iterator[None]:
        # The watch is rebuilt when new modules are imported (views on a first
        # request). A change made before the first watch, or while it is rebuilt,
        # has no event, so each build also compares modification times with the
        # last snapshot, or with the start of the process for files new to it.
        # Once serving failed (an import raised), the file to fix is not among
        # the watched ones: every Python file beside them counts, for the events
        # and for the comparison, and serving failing rebuilds the watch so that
        # a fix saved between the failure and the next event is compared too.
        snapshot: dict[Path, float] = {}
        while not self.should_stop:
            modules_seen = len(sys.modules)  # before listing, so no import slips between
            serving = self.serving()
            files = self.snapshot_files()
            directories = sorted({str(path.parent) for path in files if path.parent.is_dir()})
            compared_files = files if serving else files | _python_files(directories)
            stop = _Until(lambda: self.should_stop)
            batches = watch(directories, recursive=False, watch_filter=None, stop_event=stop)
            compared = False
            with contextlib.closing(batches):
                for changes in batches:
                    notified: set[Path] = set()
                    if not compared:
                        # The first batch tells that the watch is in place.
                        compared = True
                        current = _mtimes(compared_files)
                        for path, mtime in current.items():
                            if mtime > snapshot.get(path, self.started):
                                notified.add(path)
                                self.notify_file_changed(path)
                        snapshot = current
                    for _change, raw_path in changes:
                        path = Path(raw_path)
                        if path not in notified and self.is_relevant(path, files):
                            notified.add(path)
                            snapshot.update(_mtimes({path}))
                            self.notify_file_changed(path)
                    yield
                    if len(sys.modules) != modules_seen or (serving and not self.serving()):
                        break

    def snapshot_files(self) -> set[Path]:
        """The watched files; retried when an import in the serving thread races the listing.

        Django lists sys.modules by key and then looks each key up, so a module
        removed in between (a failed import) raises KeyError.
        """
        for _attempt in range(20):
            try:
                return set(self.watched_files())
            except (KeyError, RuntimeError):
                time.sleep(0.01)
        return set(self.watched_files())

    def notify_file_changed(self, path: str | os.PathLike[str]) -> None:
        path = Path(path)
        results = autoreload.file_changed.send(sender=self, file_path=path)
        if not any(result for _receiver, result in results):
            logger.info("%s changed, reloading.", path)
            self.on_change(path)

    @classmethod
    def check_availability(cls) -> bool:
        return True


class _Until:
    """A stop event for watchfiles, set once *condition* holds (checked every step)."""

    def __init__(self, condition: Callable[[], bool]) -> None:
        self.condition = condition

    def is_set(self) -> bool:
        return self.condition()


def watch(
    paths: Iterable[str],
    *,
    recursive: bool,
    watch_filter: Callable[[watchfiles.Change, str], bool] | None,
    stop_event: _Until | None = None,
) -> Generator[set[tuple[watchfiles.Change, str]], None, None]:
    """watchfiles' watch() of *paths*, quick to report and yielding while nothing changes.

    It yields the changes 50 ms after the last one, and an empty set after
    WATCH_TIMEOUT_MS without any: its first batch thus tells that the watch is
    in place. It ends once *stop_event* is set, and raises KeyboardInterrupt
    when a signal handler does. Closing it ends the watch.
    """
    import watchfiles  # here: the supervisor seldom watches, and it takes 30 ms to import

    return watchfiles.watch(
        *paths,
        watch_filter=watch_filter,
        debounce=50,
        step=20,
        stop_event=stop_event,
        rust_timeout=WATCH_TIMEOUT_MS,
        yield_on_timeout=True,
        debug=False,
        raise_interrupt=True,
        force_polling=False,
        recursive=recursive,
        ignore_permission_denied=True,
    )


def _python_files(directories: Iterable[str]) -> set[Path]:
    return {path for directory in directories for path in Path(directory).glob("*.py")}


def _mtimes(files: set[Path]) -> dict[Path, float]:
    mtimes = {}
    for path in files:
        try:
            mtimes[path] = path.stat().st_mtime
        except OSError:
            continue
    return mtimes


def report_to_supervisor(what: str) -> None:
    """Tell the supervisor that this server process is "ready" (serving), or will "yield".

    It yields once it accepts no more, before a reload: the next one may start.
    """
    fd = os.environ.get(REPORT_FD_ENV)
    if fd:
        with contextlib.suppress(OSError, ValueError):
            os.write(int(fd), f"{what} {os.getpid()}\n".encode())


def watch_and_serve(
    serve: Callable[[], None],
    stop_server: Callable[[int], None],
    stop_accepting: Callable[[], None],
) -> None:
    """In the server process: serve in a thread, watch files here, exit to be restarted.

    On a change it stops accepting and tells the supervisor, which starts the
    next server process at once, then closes websockets with 1012 and lets the
    views finish.
    """
    changed: list[Path] = []

    # check_errors records the file of a failed import, so the fix is watched too.
    thread = threading.Thread(
        target=autoreload.check_errors(serve), name="django-main-thread", daemon=True
    )
    started = float(os.environ.get(STARTED_ENV) or time.time())
    reloader = WatchfilesReloader(changed.append, serving=thread.is_alive, started=started)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    thread.start()
    # Template and translation folders are registered through this signal.
    autoreload.autoreload_started.send(sender=reloader)
    logger.info("Watching for file changes with watchfiles")
    try:
        ticker = reloader.tick()
        while not changed:
            next(ticker)  # each step notifies a whole batch of changes
    except KeyboardInterrupt:
        stop_server(CloseCode.GOING_AWAY)
        thread.join()
        sys.exit(0)
    for path in changed:
        forget_bytecode(path)
    stop_accepting()
    record_loaded_modules()  # what the next warm parent imports
    report_to_supervisor("yield")
    stop_server(CloseCode.SERVICE_RESTART)
    thread.join()
    sys.exit(RESTART_EXIT_CODE)


def forget_bytecode(path: Path) -> None:
    """Remove the cached bytecode of a changed module, for the next server process.

    Python tells a stale ``.pyc`` by the source's size and modification time
    in whole seconds: a second edit of the same size within the same second
    (a reload takes a tenth of one) would import the first edit's bytecode.
    """
    if path.suffix == ".py":
        with contextlib.suppress(OSError, ValueError, NotImplementedError):
            os.remove(importlib.util.cache_from_source(str(path)))
