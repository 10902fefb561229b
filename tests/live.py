"""Real servers in subprocesses, for the end-to-end tests."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class LiveServer:
    process: subprocess.Popen[str]
    host: str
    port: int
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def log(self) -> str:
        return "".join(self.output)

    def wait_for_output(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return self.log()
            time.sleep(0.02)
        raise AssertionError(f"{text!r} never appeared in the server output:\n{self.log()}")


@contextmanager
def serve_subprocess(
    argv: list[str], *, env: dict[str, str] | None = None, ready_line: str = "LISTENING"
) -> Iterator[LiveServer]:
    """Start *argv*, wait for a line starting with *ready_line*, stop it at the end."""
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()
    address: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if line.startswith(ready_line) and not ready.is_set():
                address.extend(line.split()[1:3])
                ready.set()
        ready.set()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        if not ready.wait(30) or not address:
            raise AssertionError("The server did not start:\n" + "".join(output))
        yield LiveServer(process, address[0], int(address[1]), output)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        thread.join(5)
        if process.stdout is not None:
            process.stdout.close()


def migrated_database(path: Path, *usernames: str) -> dict[str, str]:
    """Migrate a SQLite file at *path* and add a user per name (password ``"pw"``).

    Returns the environment that points ``tests.settings_e2e`` at it, so that
    a test and the servers it starts share the users.
    """
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings_e2e", "DJANGO_ASGI_WS_DB": str(path)}

    def django_admin(*args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "django", *args],
            cwd=ROOT,
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )

    django_admin("migrate", "--noinput")
    create = "from django.contrib.auth.models import User;" + ";".join(
        f"User.objects.create_user({name!r}, password='pw')" for name in usernames
    )
    django_admin("shell", "-c", create)
    return env


#: The servers ``runasgi`` starts, run by ``tests.serve``.
RUNASGI_SERVERS = ["uvicorn", "daphne"]

#: The production entry points, as docs/servers.rst gives them, logging only
#: warnings and errors; "{app}" is the application and "{fd}" the listening
#: socket the test hands over.
ENTRY_POINTS: dict[str, list[str]] = {
    "uvicorn-cli": [
        "-m", "uvicorn", "{app}", "--fd", "{fd}", "--log-level", "warning",
        "--ws", "django_asgi_ws.servers.uvicorn:WebSocketProtocol",
        "--http", "django_asgi_ws.servers.uvicorn:HTTPProtocol",
    ],
    "uvicorn-cli-workers": [
        "-m", "uvicorn", "{app}", "--fd", "{fd}", "--log-level", "warning", "--workers", "2",
        "--ws", "django_asgi_ws.servers.uvicorn:WebSocketProtocol",
        "--http", "django_asgi_ws.servers.uvicorn:HTTPProtocol",
    ],
    "gunicorn": [
        "-m", "gunicorn", "{app}", "--bind", "fd://{fd}", "--log-level", "warning",
        "-k", "django_asgi_ws.servers.uvicorn.UvicornWorker",
    ],
    "daphne-cli": ["-m", "django_asgi_ws.servers.daphne", "{app}", "--fd", "{fd}", "-v", "0"],
}  # fmt: skip

#: Every way to serve: through runasgi's servers and through the entry points.
ALL_SERVERS = [*RUNASGI_SERVERS, "uvicorn-cli", "gunicorn", "daphne-cli"]

# daphne cannot send an HTTP response to a websocket handshake: every refusal is 403.
DENIAL_RESPONSES = {name: not name.startswith("daphne") for name in [*ALL_SERVERS, *ENTRY_POINTS]}


@contextmanager
def live_server(
    server_name: str,
    *,
    env: dict[str, str] | None = None,
    app: str = "tests.asgi_app:application",
) -> Iterator[LiveServer]:
    """Serve the test project with *server_name*: one of RUNASGI_SERVERS or ENTRY_POINTS."""
    if server_name in ENTRY_POINTS:
        with entry_point(server_name, env=env, app=app) as server:
            yield server
        return
    argv = [sys.executable, "-m", "tests.serve", server_name]
    with serve_subprocess(argv, env=env) as server:
        yield server


@contextmanager
def entry_point(
    name: str, *, env: dict[str, str] | None = None, app: str = "tests.asgi_app:application"
) -> Iterator[LiveServer]:
    """Start the production entry point *name* on a socket bound here; stop it with SIGTERM.

    The socket is bound and listening before the server starts, so the test
    knows the port; the server is ready once it answers HTTP.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.set_inheritable(True)
    host, port = listener.getsockname()[:2]
    argv = [sys.executable] + [
        part.format(app=app, fd=listener.fileno()) for part in ENTRY_POINTS[name]
    ]
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        pass_fds=[listener.fileno()],
        start_new_session=True,
    )
    listener.close()  # the server holds it now
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        wait_until_answering(host, port, process, output)
        yield LiveServer(process, host, port, output)
    finally:
        stop(process)
        thread.join(5)
        if process.stdout is not None:
            process.stdout.close()


def wait_until_answering(
    host: str, port: int, process: subprocess.Popen[str], output: list[str]
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/hello/", timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("The server did not start:\n" + "".join(output))


BANNER = re.compile(
    r"Starting ASGI server \((?P<server>\S+) (?P<version>\S+)\) at "
    r"http://(?P<host>\[[0-9a-fA-F:]+\]|[^:/\s]+):(?P<port>\d+)/"
)
QUIT_LINE = "Quit the server with CONTROL-C."


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a developer's shell: no test settings module, unbuffered output."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


@contextmanager
def runasgi(
    project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> Iterator[LiveServer]:
    """Start ``manage.py runasgi *args``, wait for its banner, stop it (and its group) at the end.

    ``host`` is the host the banner shows, ``port`` the port it shows.
    """
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runasgi", *args],
        cwd=project,
        env=env or child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if line.startswith(QUIT_LINE):
                ready.set()
        ready.set()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        ready.wait(timeout)
        match = BANNER.search("".join(output))
        if match is None or QUIT_LINE not in "".join(output):
            raise AssertionError("runasgi did not start:\n" + "".join(output))
        yield LiveServer(process, match["host"], int(match["port"]), output)
    finally:
        stop(process)
        thread.join(5)
        if process.stdout is not None:
            process.stdout.close()


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, a grace period, then SIGKILL for whatever is left in its process group."""
    if process.poll() is None:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(10)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the server process, if it outlived runasgi
    process.wait()


def recording_logger(name: str) -> tuple[logging.Logger, list[logging.LogRecord]]:
    """A logger for a websockets client that keeps every record (the frames it saw)."""
    records: list[logging.LogRecord] = []
    client_logger = logging.getLogger(f"{name}.{id(records)}")
    client_logger.setLevel(logging.DEBUG)
    client_logger.propagate = False
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    client_logger.addHandler(handler)
    return client_logger, records
