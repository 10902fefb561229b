"""The process the user started with ``runasgi``: one server process alive across reloads.

It binds the listening socket once, starts the server process, restarts it
when it exits with ``RESTART_EXIT_CODE``, and, if it dies while starting (a
syntax error in settings or models breaks ``django.setup()`` before any
command runs), waits for a file change and starts it again. Ctrl-C reaches
both processes; the supervisor lets the server process shut down instead of
killing it 0.25 s later as Django's reloader does, so open websockets get a
close frame. The server process's side is :mod:`django_asgi_ws.reloader`.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.utils import autoreload

from django_asgi_ws.reloader import (
    FATAL_EXIT_CODE,
    LISTEN_FD_ENV,
    REPORT_FD_ENV,
    RESTART_EXIT_CODE,
    SERVER_PROCESS_ENV,
    STARTED_ENV,
    forget_bytecode,
    watch,
)
from django_asgi_ws.server_process import ColdProcess, ServerProcess, WarmParent, WarmProcess
from django_asgi_ws.warm_start import WarmStarts

# How long after the first server process serves the first warm parent starts.
PREPARE_DELAY = 1.0


class Supervisor:
    """The process the user started: keeps one server process alive across reloads."""

    def __init__(
        self,
        listen_fd: int,
        grace_period: float,
        warm_start: bool = True,
        preload: tuple[str, ...] = (),
    ) -> None:
        """*preload*: modules the server process will import, for the first warm parent."""
        self.listen_fd = listen_fd
        self.grace_period = grace_period
        self.process: ServerProcess | None = None
        # Server processes that yielded to a newer one and are finishing their views.
        self.draining: list[ServerProcess] = []
        # Through which a server process says it serves, and that it stopped accepting.
        self.report_fds = os.pipe()
        os.set_blocking(self.report_fds[0], False)
        self.stopping = False
        self.started_at = time.time()
        self.prepare_at: float | None = None  # when to start the first warm parent
        self.warm = (
            WarmStarts.for_this_program(
                project_roots, pass_fds=(listen_fd, self.report_fds[1]), preload=preload
            )
            if warm_start
            else None
        )

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_interrupt)
        signal.signal(signal.SIGTERM, self._on_terminate)
        try:
            return self._supervise()
        finally:
            for process in self.draining:
                process.wait()  # Ctrl-C or SIGTERM reached it too; killed after the grace period
            if self.warm is not None:
                self.warm.close()
            for fd in self.report_fds:
                os.close(fd)

    def _supervise(self) -> int:
        try:
            while True:
                code = self._run_server_processes()
                if self.stopping or code == 0:
                    return 0
                if code == FATAL_EXIT_CODE:
                    return 1
                if code != RESTART_EXIT_CODE:
                    sys.stderr.write(
                        "The server process stopped with an error; "
                        "waiting for a file change to start it again.\n"
                    )
                    sys.stderr.flush()
                    self._wait_for_change()
        except KeyboardInterrupt:
            return 0

    def _run_server_processes(self) -> int:
        """Run a server process, and the next each time one yields; the last one's exit code.

        A server process that saw a change stops accepting, says so through
        the yield pipe, and finishes its views while the next one starts.
        """
        self.process = self._start_server_process()
        while self._wait_for_yield(self.process):
            self.draining.append(self.process)
            self.process = self._start_server_process()
        code = self.process.wait()
        self.process = None
        return code

    def _start_server_process(self) -> ServerProcess:
        self.started_at = time.time()
        environ = {
            **os.environ,
            SERVER_PROCESS_ENV: "true",
            LISTEN_FD_ENV: str(self.listen_fd),
            REPORT_FD_ENV: str(self.report_fds[1]),
            STARTED_ENV: repr(self.started_at),
        }
        # Django's own reloader variable, for code that checks it to run only once.
        environ[autoreload.DJANGO_AUTORELOAD_ENV] = "true"
        pass_fds = (self.listen_fd, self.report_fds[1])
        if self.warm is None:
            return ColdProcess(environ, pass_fds=pass_fds)
        environ = self.warm.environ(environ)
        return self.warm.start(environ) or ColdProcess(environ, pass_fds=pass_fds)

    def _wait_for_yield(self, process: ServerProcess) -> bool:
        """Wait until *process* yields (True) or exits (False), reaping the draining ones."""
        while process.poll() is None:
            if process.fileno() < 0:  # no process descriptors here: only wait() tells
                process.wait()
                break
            self.draining = [draining for draining in self.draining if draining.poll() is None]
            watched: dict[int, Any] = {self.report_fds[0]: None}
            items: list[ServerProcess | WarmParent] = [process, *self.draining]
            for item in [*items, *self._warm_parents_to_watch()]:
                if item.fileno() >= 0:  # not one that ended while starting the last
                    watched.setdefault(item.fileno(), item)
            timeout = None
            if self.prepare_at is not None:
                timeout = max(0.0, self.prepare_at - time.monotonic())
            readable, _, _ = select.select(list(watched), [], [], timeout)
            if self.prepare_at is not None and time.monotonic() >= self.prepare_at:
                self.prepare_at = None
                if self.warm is not None:
                    self.warm.prepare()
            for fd in readable:
                item = watched[fd]
                if item is None:
                    reports = self._read_reports()
                    if ("ready", process.pid) in reports and self.warm is not None:
                        # Once the server process has answered its first requests
                        # (a page and its assets), not beside them.
                        self.prepare_at = time.monotonic() + PREPARE_DELAY
                    if ("yield", process.pid) in reports and not self.stopping:
                        return True
                elif isinstance(item, WarmParent):
                    item.read_messages()
                elif isinstance(item, WarmProcess):
                    item.parent.read_messages()
            if self.warm is not None:
                self.warm.after_messages()
        return False

    def _warm_parents_to_watch(self) -> list[WarmParent]:
        return self.warm.parents_to_watch() if self.warm is not None else []

    def _read_reports(self) -> set[tuple[str, int]]:
        """What server processes said: ("ready", pid) when serving, ("yield", pid) to reload."""
        try:
            data = os.read(self.report_fds[0], 4096)
        except BlockingIOError:
            return set()
        reports = set()
        for line in data.decode().splitlines():
            what, _, pid = line.partition(" ")
            reports.add((what, int(pid)))
        return reports

    def _wait_for_change(self) -> None:
        """Watch the project's own folders for any Python file change.

        The watch opens before the modification times are compared, so a file
        saved while the failed process was starting, or while the watch was
        being set up, counts too.
        """
        roots = project_roots()
        import watchfiles

        batches = watch(roots, recursive=True, watch_filter=watchfiles.PythonFilter())
        with contextlib.closing(batches):
            # The first batch tells that the watch is in place.
            first = next(batches, None)
            if first != set():  # a Python file changed already
                _forget_bytecode_of(first or set())
                return
            if any(mtime > self.started_at for mtime in _python_mtimes(roots)):
                return
            for changes in batches:
                if changes:
                    _forget_bytecode_of(changes)
                    return

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        # Ctrl-C went to the whole process group: the server process shuts down
        # gracefully by itself; give it time, then make sure it is gone.
        self.stopping = True
        if self.process is None:
            raise KeyboardInterrupt
        self._reap_later()

    def _on_terminate(self, signum: int, frame: Any) -> None:
        self.stopping = True
        if self.process is None:
            raise KeyboardInterrupt
        for process in self._running():
            process.send_signal(signal.SIGTERM)
        self._reap_later()

    def _running(self) -> list[ServerProcess]:
        return [*self.draining, *([self.process] if self.process is not None else [])]

    def _reap_later(self) -> None:
        processes = self._running()

        def kill() -> None:
            for process in processes:
                process.send_signal(signal.SIGKILL)  # nothing if it is gone

        timer = threading.Timer(self.grace_period, kill)
        timer.daemon = True
        timer.start()


def _forget_bytecode_of(changes: set[tuple[Any, str]]) -> None:
    for _change, path in changes:
        forget_bytecode(Path(path))


def _python_mtimes(roots: list[str]) -> Iterator[float]:
    import watchfiles

    ignored = set(watchfiles.DefaultFilter.ignore_dirs) | {"site-packages", "node_modules"}
    for root in roots:
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = [name for name in subfolders if name not in ignored]
            for name in names:
                if name.endswith(".py"):
                    with contextlib.suppress(OSError):
                        yield os.stat(os.path.join(folder, name)).st_mtime


def project_roots() -> list[str]:
    """Folders holding the project's own code: sys.path entries outside the installation."""
    installation = [
        str(Path(prefix).resolve()) for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}
    ]
    entries: list[str] = []
    for entry in sys.path:
        resolved = Path(entry).resolve() if entry else None
        if resolved is not None and resolved.is_dir() and str(resolved) not in entries:
            entries.append(str(resolved))
    roots: set[str] = set()
    for file in map(str, autoreload.iter_all_python_module_files()):
        for entry in entries:
            if _is_within(file, entry):
                if not any(_is_within(entry, prefix) for prefix in installation):
                    roots.add(entry)
                break
    return sorted(roots) or [os.getcwd()]


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
