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
from typing import Any, Protocol

from django.utils import autoreload


class ServerProcess(Protocol):
    pid: int

    def fileno(self) -> int:
        """Readable once the process has exited."""

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

    def wait(self) -> int:
        try:
            return self.popen.wait()
        finally:
            if self._pidfd >= 0:
                os.close(self._pidfd)
                self._pidfd = -1

    def send_signal(self, signum: int) -> None:
        self.popen.send_signal(signum)


class WarmProcess:
    """A server process forked by a warm parent, which tells when it exits."""

    def __init__(self, pid: int, parent: WarmParent) -> None:
        self.pid = pid
        self.parent = parent

    def fileno(self) -> int:
        return self.parent.fileno()

    def wait(self) -> int:
        message = self.parent.receive()
        if message is None or "exited" not in message:
            # The warm parent died: the server process is not its child any more.
            self._wait_for_orphan()
            code = 1
        else:
            code = int(message["exited"])
        if self.parent.retired:
            self.parent.close()
        return code

    def send_signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def _wait_for_orphan(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            while True:
                os.kill(self.pid, 0)
                time.sleep(0.1)


class WarmParent:
    """A warm parent process: told what to import, then asked to fork, one start at a time."""

    def __init__(
        self,
        modules: Sequence[str],
        *,
        roots: Sequence[str],
        excluded: Sequence[str],
        environ: Mapping[str, str],
        argv: Sequence[str],
        pass_fds: tuple[int, ...],
    ) -> None:
        self.modules = list(modules)
        self.ready = False
        self.retired = False  # set once a newer one takes its place
        self.refusal: dict[str, Any] | None = None  # why it could not fork
        ours, theirs = socket.socketpair()
        self.control = ours
        self._reader = ours.makefile("r", encoding="utf-8")
        options = [
            str(argument)
            for argument in autoreload.get_child_arguments()[1:]
            if str(argument)[:2] in {"-W", "-X"}
        ]
        command = [sys.executable, *options, "-m", "django_asgi_ws.warm_parent"]
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
        self._send({**order, "argv": list(argv)})

    def fileno(self) -> int:
        return self.control.fileno()

    def read_report(self) -> bool:
        """Read whether it is ready (True) or could not import (False, :attr:`refusal` says why)."""
        message = self.receive()
        if message is not None and "ready" in message:
            self.ready = True
            return True
        self.refusal = message or {"died": True}
        return False

    def start(
        self, environ: Mapping[str, str], argv: Sequence[str], module: str | None, path0: str
    ) -> WarmProcess | None:
        """Fork a server process, once ready; None if it cannot (see :attr:`refusal`)."""
        if not self.ready and not self.read_report():
            return None
        command = {"environ": dict(environ), "argv": list(argv), "module": module, "path0": path0}
        message = self.receive() if self._send(command) else None
        if message is None or "started" not in message:
            self.refusal = message or {"died": True}
            return None
        return WarmProcess(int(message["started"]), self)

    def receive(self) -> dict[str, Any] | None:
        try:
            line = self._reader.readline()
        except OSError:
            return None
        return json.loads(line) if line else None

    def close(self) -> None:
        """Let it go: it exits once it reads the end of the conversation."""
        self._reader.close()
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
