"""Startup and reload times: runasgi (uvicorn, daphne) against runserver and uvicorn --reload.

For each target, on a fresh ``startproject`` with one websocket view and one
HTTP view:

- launch: from starting the command to the first answered request (a
  websocket round trip; an HTTP request for runserver, which has no websockets);
- reload: from saving an edited view to the first answer from the new code.

Medians over several launches and edits, printed as a markdown table. Run from
the repository root with the package installed::

    python benchmarks/reload.py --launches 3 --edits 3
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

VIEWS = """\
from django.http import HttpResponse

VERSION = "{version}"


async def echo(websocket):
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(VERSION)


def version(request):
    return HttpResponse(VERSION)
"""

WS_URLS = """\
from django.urls import path

from mysite import views

urlpatterns = [path("ws/version/", views.echo)]
"""

URLS = """\
from django.urls import path

from mysite import views

urlpatterns = [path("version/", views.version)]
"""

ASGI = """\
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

from django_asgi_ws.asgi import get_asgi_application

application = get_asgi_application()
"""


def make_project(root: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(root)], check=True
    )
    settings = root / "mysite" / "settings.py"
    settings.write_text(
        settings.read_text()
        + '\nINSTALLED_APPS += ["django_asgi_ws"]\nWEBSOCKET_URLCONF = "mysite.ws_urls"\n'
    )
    (root / "mysite" / "views.py").write_text(VIEWS.format(version="v0"))
    (root / "mysite" / "ws_urls.py").write_text(WS_URLS)
    (root / "mysite" / "urls.py").write_text(URLS)
    (root / "mysite" / "asgi.py").write_text(ASGI)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=root, check=True, env=clean_env()
    )


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DJANGO_RUNSERVER_HIDE_WARNING"] = "true"
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ask_websocket(port: int) -> str | None:
    try:
        with connect(f"ws://127.0.0.1:{port}/ws/version/", open_timeout=2) as ws:
            ws.send("?")
            return str(ws.recv(timeout=2))
    except Exception:
        return None


def ask_http(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/version/", timeout=2) as reply:
            return str(reply.read().decode())
    except Exception:
        return None


TARGETS = {
    "runasgi (uvicorn)": (
        lambda port: ["manage.py", "runasgi", f"127.0.0.1:{port}", "--skip-checks"],
        ask_websocket,
    ),
    "runasgi (daphne)": (
        lambda port: [
            "manage.py",
            "runasgi",
            f"127.0.0.1:{port}",
            "--server",
            "daphne",
            "--skip-checks",
        ],
        ask_websocket,
    ),
    "runserver (HTTP)": (
        lambda port: ["manage.py", "runserver", f"127.0.0.1:{port}", "--skip-checks"],
        ask_http,
    ),
    "uvicorn --reload": (
        lambda port: ["-m", "uvicorn", "mysite.asgi:application", "--reload", "--port", str(port)],
        ask_websocket,
    ),
}


def wait_for(ask: object, port: int, expected: str, timeout: float = 30.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if ask(port) == expected:  # type: ignore[operator]
            return time.perf_counter() - start
        time.sleep(0.01)
    raise TimeoutError(f"no answer {expected!r} within {timeout} s")


def measure(target: str, root: Path, edits: int) -> tuple[float, list[float]]:
    argv, ask = TARGETS[target]
    port = free_port()
    (root / "mysite" / "views.py").write_text(VIEWS.format(version="v0"))
    time.sleep(0.3)  # let mtimes settle before the server starts
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *argv(port)],
        cwd=root,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(ask, port, "v0")
        launch = time.perf_counter() - start
        reloads = []
        for number in range(1, edits + 1):
            time.sleep(1.2)  # a save well after the last one, as a person edits
            (root / "mysite" / "views.py").write_text(VIEWS.format(version=f"v{number}"))
            reloads.append(wait_for(ask, port, f"v{number}"))
        return launch, reloads
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=3)
    parser.add_argument("--edits", type=int, default=3)
    parser.add_argument("--targets", nargs="*", default=list(TARGETS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        make_project(root)
        launches: dict[str, list[float]] = {target: [] for target in args.targets}
        reloads: dict[str, list[float]] = {target: [] for target in args.targets}
        # Interleave targets so that load on the machine affects them alike.
        for _ in range(args.launches):
            for target in args.targets:
                launch, times = measure(target, root, args.edits)
                launches[target].append(launch)
                reloads[target].extend(times)
    runserver = reloads.get("runserver (HTTP)")
    baseline = statistics.median(runserver) if runserver else None
    print(f"\n{args.launches} launches x {args.edits} edits per target, medians\n")
    print(
        "| target | launch to first answer (s) | save to new code answering (s) "
        "| reload vs runserver |"
    )
    print("|---|---:|---:|---:|")
    for target in args.targets:
        reload = statistics.median(reloads[target])
        ratio = f"{reload / baseline:.2f}x" if baseline else "-"
        print(f"| {target} | {statistics.median(launches[target]):.2f} | {reload:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
