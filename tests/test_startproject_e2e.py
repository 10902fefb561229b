"""A brand-new ``django-admin startproject`` with the documented three lines, under the
plain ``uvicorn`` and ``daphne`` command lines."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

pytestmark = pytest.mark.e2e

ASGI_PY = """\
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

from django_asgi_ws.asgi import get_asgi_application

application = get_asgi_application()
"""

WS_URLS_PY = """\
from django.urls import path


async def echo(websocket):
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)


async def crash(websocket):
    await websocket.accept()
    await websocket.receive_text()
    raise RuntimeError("boom")


urlpatterns = [path("ws/echo/", echo), path("ws/crash/", crash)]
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("startproject")
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(root)], check=True
    )
    settings = root / "mysite" / "settings.py"
    settings.write_text(
        settings.read_text()
        + '\nINSTALLED_APPS += ["django_asgi_ws"]\nWEBSOCKET_URLCONF = "mysite.ws_urls"\n'
    )
    (root / "mysite" / "ws_urls.py").write_text(WS_URLS_PY)
    (root / "mysite" / "asgi.py").write_text(ASGI_PY)
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_server(project: Path, argv: list[str], port: int) -> Iterator[subprocess.Popen[str]]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    process = subprocess.Popen(
        argv, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "server did not start:\n"
                        + (process.stdout.read() if process.stdout else "")
                    ) from None
                time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        process.communicate(timeout=15)  # also closes the pipe


COMMANDS = {
    "uvicorn": lambda port: [
        sys.executable,
        "-m",
        "uvicorn",
        "mysite.asgi:application",
        "--port",
        str(port),
    ],
    "daphne": lambda port: [
        sys.executable,
        "-m",
        "daphne",
        "-p",
        str(port),
        "mysite.asgi:application",
    ],
}


@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_the_readme_setup_serves_the_echo_view(project: Path, server: str) -> None:
    port = free_port()
    for process in run_server(project, COMMANDS[server](port), port):
        with connect(f"ws://127.0.0.1:{port}/ws/echo/") as ws:
            ws.send("hello")
            assert ws.recv(timeout=5) == "hello"
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{port}/ws/nowhere/", open_timeout=5)
        assert refused.value.response.status_code == (404 if server == "uvicorn" else 403)
        with connect(f"ws://127.0.0.1:{port}/ws/crash/") as ws:
            ws.send("x")
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1011
        process.terminate()
        output, _ = process.communicate(timeout=15)
        assert "lifespan" not in output.lower(), output
        assert "Internal error in websocket view for /ws/crash/" in output
