"""The supervisor's handles on its server process and on the warm parent that forks it.

A server process is either forked by a warm parent (:class:`WarmProcess`; see
:mod:`django_asgi_ws.warm_parent`) or started in a new interpreter, as Django's
reloader does it (:class:`ColdProcess`). Either way the supervisor can select
on it, wait for its exit code and signal it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from django.utils import autoreload


class ServerProcess(Protocol):
    pid: int

    def fileno(self) -> int:
        """Readable once the process has exited (or, for a forked one, its parent spoke)."""

    def poll(self) -> int | None:
        """Its exit code if it has exited, without blocking."""

    def wait(self) -> int:
        """Block until the process exits; its exit code."""

    def send_signal(self, signum: int) -> None:
        """Nothing if the process is gone."""


class ColdProcess:
    """A server process in a new interpreter: ``manage.py`` run again from the start."""

    def __init__(self, environ: Mapping[str, str], pass_fds: tuple[int, ...]) -> None:
        self.popen = subprocess.Popen(
            autoreload.get_child_arguments(), env=dict(environ), pass_fds=pass_fds
        )
        self.pid = self.popen.pid
        self._pidfd = -1
        with contextlib.suppress(AttributeError, OSError):  # Linux 5.3 and later
            self._pidfd = os.pidfd_open(self.pid)

    def fileno(self) -> int:
        """-1 where the system has no process descriptors: then only wait() tells."""
        return self._pidfd

    def poll(self) -> int | None:
        code = self.popen.poll()
        if code is not None and self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
        return code

    def wait(self) -> int:
        self.popen.wait()
        return self.poll()  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        self.popen.send_signal(signum)


class WarmProcess:
    """A server process forked by a warm parent, which tells when it exits."""

    def __init__(self, pid: int, parent: WarmParent) -> None:
        self.pid = pid
        self.parent = parent

    def fileno(self) -> int:
        return self.parent.fileno()

    def poll(self) -> int | None:
        code = self.parent.exits.get(self.pid)
        if code is None and self.parent.gone:
            # The warm parent died: the server process is not its child any more.
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                code = 1
        return code

    def wait(self) -> int:
        while (code := self.poll()) is None:
            if not self.parent.gone:
                self.parent.read_messages()
            else:
                time.sleep(0.1)
        return code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)


class Program(NamedTuple):
    """What a new interpreter would run, as Django's reloader starts it."""

    options: list[str]  # the interpreter's -W and -X options
    argv: list[str]
    module: str | None  # run with -m
    path0: str  # sys.path[0]


class WarmParent:
    """A warm parent process: told what to import, then asked to fork each server process.

    Starts are asked one at a time; the processes it forked may overlap.
    """

    def __init__(
        self,
        modules: Sequence[str],
        *,
        roots: Sequence[str],
        excluded: Sequence[str],
        environ: Mapping[str, str],
        program: Program,
        pass_fds: tuple[int, ...],
    ) -> None:
        self.modules = list(modules)
        self.started: set[int] = set()  # the server processes it forked
        self.exits: dict[int, int] = {}  # and the exit codes of those that exited
        self.gone = False  # it closed the conversation
        self._replies: list[dict[str, Any]] = []
        self._buffer = b""
        self.ready = False
        self.loaded: set[str] = set()  # what it imported, once ready
        self.refusal: dict[str, Any] | None = None  # why it could not fork
        ours, theirs = socket.socketpair()
        self.control = ours
        command = [sys.executable, *program.options, "-m", "django_asgi_ws.warm_parent"]
        # Started with Ctrl-C ignored, which the interpreter keeps: the warm
        # parent never gets a KeyboardInterrupt, even while it starts.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.process = subprocess.Popen(
                [*command, str(theirs.fileno())],
                env=dict(environ),
                pass_fds=(*pass_fds, theirs.fileno()),
            )
        finally:
            signal.signal(signal.SIGINT, previous)
            theirs.close()
        order = {"modules": self.modules, "roots": list(roots), "excluded": list(excluded)}
        self._send({**order, "argv": program.argv})
        self.program = program

    def fileno(self) -> int:
        return self.control.fileno()

    def read_report(self) -> bool:
        """Wait until it is ready (True) or could not import (False, see :attr:`refusal`)."""
        reply = self._next_reply()
        if reply is not None and "ready" in reply:
            self.ready = True
            self.loaded = set(reply["ready"])
            return True
        self.refusal = reply or {"died": True}
        return False

    def start(self, environ: Mapping[str, str]) -> WarmProcess | None:
        """Fork a server process, once ready; None if it cannot (see :attr:`refusal`)."""
        if not self.ready and not self.read_report():
            return None
        program = self.program
        command = {
            "environ": dict(environ),
            "argv": program.argv,
            "module": program.module,
            "path0": program.path0,
        }
        reply = self._next_reply() if self._send(command) else None
        if reply is None or "started" not in reply:
            self.refusal = reply or {"died": True}
            return None
        pid = int(reply["started"])
        self.started.add(pid)
        return WarmProcess(pid, self)

    @property
    def busy(self) -> bool:
        """Whether a server process it forked still runs."""
        return not self.gone and bool(self.started - self.exits.keys())

    def read_messages(self) -> None:
        """Read what it sent (blocks until something comes): exits noted, replies kept."""
        try:
            data = self.control.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.gone = True
            return
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            message = json.loads(line)
            if "exited" in message:
                self.exits[int(message["pid"])] = int(message["exited"])
            else:
                self._replies.append(message)

    def pending_report(self) -> bool:
        """Whether a report on its import came and waits to be read."""
        return any("ready" in reply or "tainted" in reply for reply in self._replies)

    def _next_reply(self) -> dict[str, Any] | None:
        while not self._replies and not self.gone:
            self.read_messages()
        return self._replies.pop(0) if self._replies else None

    def close(self) -> None:
        """Let it go: it exits once it reads the end of the conversation and its children end."""
        self.control.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _send(self, message: dict[str, Any]) -> bool:
        try:
            self.control.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            return False
        return True
