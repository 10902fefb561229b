"""What the production entry points add to their servers, over real sockets.

The wire behaviour they share with ``runasgi`` is in test_servers_e2e.py and
test_security_e2e.py, which run against every entry point too. Here: the
lifespan hooks, the graceful stop on SIGTERM (a deploy), the ``WEBSOCKET_*``
server settings, and backpressure on what a client sends.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import time
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.live import ENTRY_POINTS, LiveServer, live_server, recording_logger

pytestmark = pytest.mark.e2e

SETTINGS = {"DJANGO_SETTINGS_MODULE": "tests.settings_entry_points"}
APP = "tests.entry_point_asgi:application"
SHUTDOWN_TIMEOUT = 1.5  # WEBSOCKET_SHUTDOWN_TIMEOUT of tests.settings_entry_points


@pytest.fixture(params=list(ENTRY_POINTS))
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, LiveServer]]:
    with live_server(request.param, env=SETTINGS, app=APP) as live:
        yield request.param, live


def close_code(ws: ClientConnection) -> int | None:
    try:
        while True:
            ws.recv(timeout=10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def terminate(live: LiveServer) -> tuple[int, float]:
    """SIGTERM, as a deploy sends it; the exit status and the seconds it took."""
    started = time.monotonic()
    live.process.send_signal(signal.SIGTERM)
    status = live.process.wait(30)
    return status, time.monotonic() - started


# uvicorn exits by raising the signal it handled again, once shut down, so that
# whoever sent it sees it; the others exit with 0.
CLEAN_EXITS = (0, -signal.SIGTERM)


def lines(live: LiveServer, text: str) -> list[str]:
    return [line for line in live.log().splitlines() if text in line]


def test_the_lifespan_hooks_run_in_every_process_at_start_and_stop(
    served: tuple[str, LiveServer],
) -> None:
    name, live = served
    processes = 2 if name == "uvicorn-cli-workers" else 1
    live.wait_for_output("startup hook ran")
    deadline = time.monotonic() + 10
    while len(lines(live, "startup hook ran")) < processes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(lines(live, "startup hook ran")) == processes
    assert lines(live, "shutdown hook ran") == []
    status, _ = terminate(live)
    assert status in CLEAN_EXITS, live.log()
    live.wait_for_output("shutdown hook ran", timeout=5)  # read to its end
    deadline = time.monotonic() + 5
    while len(lines(live, "shutdown hook ran")) < processes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(lines(live, "shutdown hook ran")) == processes, live.log()


def test_sigterm_closes_open_websockets_with_1001_and_lets_their_views_finish(
    served: tuple[str, LiveServer],
) -> None:
    _, live = served
    with connect(f"{live.url}/ws/farewell/") as ws:
        ws.send("still here")
        assert ws.recv(timeout=5) == "still here"
        live.process.send_signal(signal.SIGTERM)
        assert close_code(ws) == 1001
    assert live.process.wait(30) in CLEAN_EXITS, live.log()
    log = live.wait_for_output("shutdown hook ran", timeout=5)  # read to its end
    assert "farewell saw close code 1001" in log
    assert log.index("farewell saw close code 1001") < log.index("shutdown hook ran")
    assert "Traceback" not in log


def test_a_view_that_does_not_finish_is_cancelled_after_the_shutdown_timeout(
    served: tuple[str, LiveServer],
) -> None:
    _, live = served
    with connect(f"{live.url}/ws/stuck/") as ws:
        assert ws.recv(timeout=5) == "stuck"
        status, seconds = terminate(live)
        assert close_code(ws) == 1001
    assert status in CLEAN_EXITS, live.log()
    log = live.wait_for_output("shutdown hook ran", timeout=5)  # read to its end
    assert "stuck view cancelled" in log
    # The view had its time (uvicorn counts it in whole seconds, rounded up).
    assert seconds >= SHUTDOWN_TIMEOUT - 0.2, live.log()


def test_the_message_size_setting_applies(served: tuple[str, LiveServer]) -> None:
    """WEBSOCKET_MAX_MESSAGE_SIZE is 4096 bytes: the servers' defaults are 1 MiB and more."""
    _, live = served
    with connect(f"{live.url}/ws/echo/", max_size=None) as ws:
        ws.send("x" * 4096)
        assert ws.recv(timeout=5) == "x" * 4096
        ws.send("x" * 4097)
        assert close_code(ws) == 1009


def test_the_ping_interval_setting_applies(served: tuple[str, LiveServer]) -> None:
    """WEBSOCKET_PING_INTERVAL is 1 s: uvicorn's default is 20 s, daphne's 20 s too."""
    _, live = served
    client_logger, records = recording_logger("tests.entry_point_pings")
    with connect(f"{live.url}/ws/echo/", logger=client_logger) as ws:
        deadline = time.monotonic() + 5  # daphne checks its timers every 2 s
        while time.monotonic() < deadline and not any(
            r.getMessage().startswith("< PING") for r in records
        ):
            time.sleep(0.05)
        ws.send("after the ping")
        assert ws.recv(timeout=5) == "after the ping"
    assert any(r.getMessage().startswith("< PING") for r in records)


def test_a_client_sending_faster_than_its_view_reads_is_held_back(
    served: tuple[str, LiveServer],
) -> None:
    """The server stops reading from a client while a message waits for the view: what
    the client can push is bounded by the sockets' buffers, not by the server's memory."""
    _, live = served
    sock = socket.create_connection((live.host, live.port), timeout=5)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET /ws/sleeper/ HTTP/1.1\r\nHost: {live.host}:{live.port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += sock.recv(4096)
        assert response.startswith(b"HTTP/1.1 101"), response
        # Masked (with a zero key) 1 KiB text frames, sent as fast as the socket takes them.
        payload = b"a" * 1024
        frame = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + bytes(4) + payload
        burst = frame * 64
        sock.setblocking(False)
        pushed = 0
        dropped = False
        last_progress = time.monotonic()
        limit = 64 * 1024 * 1024
        while pushed < limit and time.monotonic() - last_progress < 1.0:
            try:
                pushed += sock.send(burst)
                last_progress = time.monotonic()
            except BlockingIOError:
                time.sleep(0.01)
            except ConnectionError:
                dropped = True
                break
    finally:
        sock.close()
    assert not dropped, f"the server dropped the client after {pushed / 2**20:.0f} MiB"
    assert pushed < 32 * 1024 * 1024, f"the server took {pushed / 2**20:.0f} MiB"
    assert live.process.poll() is None
