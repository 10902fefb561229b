"""Broadcast across server processes: a client on each, through Redis and through PostgreSQL."""

from __future__ import annotations

import json
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from tests.live import LiveServer, serve_subprocess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["redis", "postgres"])
def two_servers(request: pytest.FixtureRequest) -> Iterator[tuple[LiveServer, LiveServer]]:
    """A uvicorn and a daphne process sharing one broker (and a prefix of their own)."""
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings_broadcast",
        "DJANGO_ASGI_WS_BROADCAST": request.param,
        "DJANGO_ASGI_WS_BROADCAST_PREFIX": f"t{uuid.uuid4().hex[:12]}:",
    }
    with (
        serve_subprocess([sys.executable, "-m", "tests.serve", "uvicorn"], env=env) as first,
        serve_subprocess([sys.executable, "-m", "tests.serve", "daphne"], env=env) as second,
    ):
        yield first, second


def test_what_a_client_of_one_process_sends_reaches_a_client_of_the_other(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_servers
    room = uuid.uuid4().hex[:8]
    with (
        connect(f"{first.url}/ws/room/{room}/") as alice,
        connect(f"{second.url}/ws/room/{room}/") as bob,
    ):
        _wait_until_subscribed(alice, bob, room)
        alice.send(json.dumps({"text": "hello from uvicorn"}))
        assert json.loads(bob.recv(timeout=5)) == {"text": "hello from uvicorn"}
        assert json.loads(alice.recv(timeout=5)) == {"text": "hello from uvicorn"}
        bob.send(json.dumps({"text": "hello from daphne"}))
        assert json.loads(alice.recv(timeout=5)) == {"text": "hello from daphne"}
        assert json.loads(bob.recv(timeout=5)) == {"text": "hello from daphne"}


def test_a_sync_view_of_one_process_pushes_to_a_socket_of_the_other(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_servers
    with connect(f"{second.url}/ws/lobby/") as ws:
        query = urllib.parse.urlencode({"text": "deploy at 5"})
        received = []
        for _ in range(50):  # until the lobby subscription is confirmed by the broker
            with urllib.request.urlopen(
                f"http://{first.host}:{first.port}/announce/?{query}", timeout=5
            ) as reply:
                assert reply.read() == b"sent"
            try:
                received.append(json.loads(ws.recv(timeout=0.2)))
                break
            except TimeoutError:
                continue
    assert received == [{"group": "announcements", "data": {"announcement": "deploy at 5"}}]


def _wait_until_subscribed(alice: object, bob: object, room: str) -> None:
    """Both views joined at accept; a message round trip proves their brokers listen."""
    for _ in range(50):
        alice.send(json.dumps({"text": "ready?"}))  # type: ignore[attr-defined]
        try:
            while True:
                if json.loads(bob.recv(timeout=0.2)) == {"text": "ready?"}:  # type: ignore[attr-defined]
                    break
        except TimeoutError:
            continue
        break
    else:
        raise AssertionError("the two servers never exchanged a message")
    _drain(alice)
    _drain(bob)


def _drain(ws: object) -> None:
    try:
        while True:
            ws.recv(timeout=0.2)  # type: ignore[attr-defined]
    except TimeoutError:
        return
