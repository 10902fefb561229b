"""The example project (example/) copied, migrated and visited, for its end-to-end tests."""

from __future__ import annotations

import http.cookiejar
import json
import re
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from tests.live import ROOT, LiveServer, child_env

# Made by the example's data migration.
DEMO_PASSWORD = "chat-demo"


def copy_example(directory: Path) -> Path:
    """A copy of example/ in *directory*, migrated: demo accounts and the lobby included."""
    project = directory / "example"
    shutil.copytree(ROOT / "example", project, ignore=shutil.ignore_patterns("*.sqlite3"))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=project,
        env=example_env(),
        check=True,
    )
    return project


def example_env(**extra: str) -> dict[str, str]:
    """A developer's shell, without REDIS_URL unless given: broadcast stays in the process."""
    env = child_env(**extra)
    if "REDIS_URL" not in extra:
        env.pop("REDIS_URL", None)
    return env


class Visitor:
    """A browser without JavaScript: cookies, forms with their CSRF token, websockets."""

    def __init__(self, live: LiveServer) -> None:
        self.origin = f"http://{live.host}:{live.port}"
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> str:
        with self.opener.open(self.origin + path, timeout=5) as reply:
            return str(reply.read().decode())

    def landing(self, path: str) -> str:
        """Where a visit to *path* ends up, after redirects: a path and its query."""
        with self.opener.open(self.origin + path, timeout=5) as reply:
            url = urllib.parse.urlsplit(reply.geturl())
            return f"{url.path}?{url.query}" if url.query else url.path

    def submit(self, path: str, fields: dict[str, str]) -> str:
        """Fill in the form of the page at *path* and post it; the path it redirects to."""
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.get(path))
        assert token is not None, f"no form on {path}"
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token[1]}).encode()
        with self.opener.open(self.origin + path, data=data, timeout=5) as reply:
            return str(urllib.parse.urlsplit(reply.geturl()).path)

    def log_in(self, username: str, password: str = DEMO_PASSWORD) -> None:
        landed = self.submit("/accounts/login/", {"username": username, "password": password})
        assert landed == "/rooms/", f"{username} could not log in"

    def log_out(self) -> None:
        token = self.cookie("csrftoken").value or ""
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token}).encode()
        self.opener.open(self.origin + "/accounts/logout/", data=data, timeout=5).close()

    def cookie(self, name: str) -> http.cookiejar.Cookie:
        return next(cookie for cookie in self.cookies if cookie.name == name)

    def create_room(self, name: str) -> str:
        """Create a room through the form of the room list; its slug."""
        landed = self.submit("/rooms/", {"name": name})
        match = re.fullmatch(r"/rooms/([-\w]+)/", landed)
        assert match is not None, f"the room {name!r} was not created"
        return match[1]

    def connect(self, path: str, origin: str | None = None) -> ClientConnection:
        cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.cookies)
        return connect(
            self.origin.replace("http", "ws", 1) + path,
            origin=Origin(origin or self.origin),
            additional_headers={"Cookie": cookies} if cookies else None,
            open_timeout=5,
        )


def receive(ws: ClientConnection, *, online: bool = False) -> Any:
    """The next message of the room; who is online is skipped unless *online*."""
    while True:
        data = json.loads(ws.recv(timeout=5))
        if online or not (isinstance(data, dict) and data.get("type") == "online"):
            return data


def post(ws: ClientConnection, text: str, client_id: str | None = None) -> None:
    """Send a chat message as the room's page does."""
    ws.send(
        json.dumps({"type": "message", "text": text, "client_id": client_id or str(uuid.uuid4())})
    )
