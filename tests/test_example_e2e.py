"""The example project, served by runasgi on both servers: the demos a newcomer tries first."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from tests.live import ROOT, LiveServer, child_env, runasgi

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def example(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    project = tmp_path_factory.mktemp("example") / "example"
    shutil.copytree(ROOT / "example", project, ignore=shutil.ignore_patterns("*.sqlite3"))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=project,
        env=child_env(),
        check=True,
    )
    with runasgi(project, "127.0.0.1:0", "--server", request.param) as live:
        yield live


def get(live: LiveServer, path: str) -> str:
    with urllib.request.urlopen(f"http://{live.host}:{live.port}{path}", timeout=5) as reply:
        return str(reply.read().decode())


def test_the_index_links_to_every_demo(example: LiveServer) -> None:
    page = get(example, "/")
    for demo in ("/ping/", "/echo/", "/counter/"):
        assert f'href="{demo}"' in page


@pytest.mark.parametrize(("page", "socket"), [("/ping/", "/ws/ping/"), ("/echo/", "/ws/echo/")])
def test_each_page_opens_its_websocket(example: LiveServer, page: str, socket: str) -> None:
    assert f'"{socket}"' in get(example, page)


def test_ping_is_answered_with_pong(example: LiveServer) -> None:
    with connect(f"ws://{example.host}:{example.port}/ws/ping/") as ws:
        ws.send("ping")
        assert ws.recv(timeout=5) == "pong!"


def test_echo_sends_every_message_back(example: LiveServer) -> None:
    with connect(f"ws://{example.host}:{example.port}/ws/echo/") as ws:
        for text in ["hello", "world ✓"]:
            ws.send(text)
            assert ws.recv(timeout=5) == text


def test_the_json_counter_adds_up(example: LiveServer) -> None:
    with connect(f"ws://{example.host}:{example.port}/ws/counter/") as ws:
        ws.send(json.dumps({"increment": 3}))
        assert json.loads(ws.recv(timeout=5)) == {"count": 3}
        ws.send(json.dumps({"increment": 4}))
        assert json.loads(ws.recv(timeout=5)) == {"count": 7}
