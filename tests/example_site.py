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
from websockets.typing import Origin, Subprotocol

from tests.live import ROOT, LiveServer, child_env

PROTOCOL = "django-asgi-ws.v1"

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
        """A websocket to *path* offering the client protocol, as the JavaScript client does."""
        cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.cookies)
        return connect(
            self.origin.replace("http", "ws", 1) + path,
            origin=Origin(origin or self.origin),
            additional_headers={"Cookie": cookies} if cookies else None,
            subprotocols=[Subprotocol(PROTOCOL)],
            open_timeout=5,
        )


class RequestFailed(Exception):
    def __init__(self, error: dict[str, str]) -> None:
        super().__init__(error["message"])
        self.code = error["code"]


class Chat:
    """A room's websocket spoken as the page's client speaks it: frames kept in order.

    Each frame read is noted (the groups joined, who is present) and kept until
    a reader asks for its kind, so that a test can wait for a reply while the
    room's messages keep coming.
    """

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.joined: dict[str, dict[str, Any]] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        self._ids = iter(range(1, 1_000_000))

    def _read(self) -> dict[str, Any]:
        frame = json.loads(self.ws.recv(timeout=5))
        kind = frame["type"]
        if kind == "welcome":
            for group, position in frame["groups"].items():
                self.joined[group] = {"position": position, "recovered": frame["recovered"]}
            for members in frame.get("presence", {}).values():
                self.entries.update(members)
        elif kind == "joined":
            self.joined[frame["group"]] = frame
            self.entries.update(frame.get("members", {}))
        elif kind == "join":
            self.entries[frame["entry"]] = {"key": frame["key"], "meta": frame["meta"]}
        elif kind == "leave":
            self.entries.pop(frame["entry"], None)
        return dict(frame)

    def next(self, kind: str, group_prefix: str = "") -> dict[str, Any]:
        """The next frame of *kind* (in a group whose name starts with *group_prefix*)."""

        def wanted(frame: dict[str, Any]) -> bool:
            return frame["type"] == kind and frame.get("group", "").startswith(group_prefix)

        for index, frame in enumerate(self.frames):
            if wanted(frame):
                return self.frames.pop(index)
        while True:
            frame = self._read()
            if wanted(frame):
                return frame
            self.frames.append(frame)

    def message(self) -> dict[str, Any]:
        """The next chat message of the room, with its position."""
        frame = self.next("message", "chat.room.")
        return {**frame["data"], "position": frame["position"]}

    def typing(self) -> dict[str, Any]:
        return dict(self.next("message", "chat.typing.")["data"])

    def request(self, data: dict[str, Any]) -> Any:
        request_id = next(self._ids)
        self.ws.send(json.dumps({"type": "request", "id": request_id, "data": data}))
        while True:
            frame = self.next("reply")
            if frame["id"] == request_id:
                break
        if "error" in frame:
            raise RequestFailed(frame["error"])
        return frame["data"]

    def post(self, text: str, client_id: str | None = None) -> dict[str, Any]:
        """Post a message as the page does; the stored message."""
        post = {"type": "post", "text": text, "client_id": client_id or str(uuid.uuid4())}
        return dict(self.request(post))

    def history(self, after: int | None = None) -> list[dict[str, Any]]:
        return list(self.request({"type": "history", "after": after}))

    def send_typing(self) -> None:
        self.ws.send(json.dumps({"type": "message", "data": {"type": "typing"}}))

    def online(self) -> list[str]:
        """Who is present, as the page shows it."""
        return sorted({entry["key"] for entry in self.entries.values()})

    def wait_online(self, users: list[str]) -> None:
        """Read on until *users* are exactly who is present."""
        while self.online() != users:
            self.frames.append(self._read())
