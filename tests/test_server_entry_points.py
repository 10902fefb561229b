"""The production entry points read the project's settings (their wire behaviour is
tested end to end in test_entry_points_e2e.py)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from django_asgi_ws.servers import uvicorn as uvicorn_entry_point
from django_asgi_ws.servers.gunicorn_worker import UvicornWorker
from tests.live import ROOT


def test_the_websocket_settings_replace_uvicorns_options(settings: Any) -> None:
    settings.WEBSOCKET_MAX_MESSAGE_SIZE = 4096
    settings.WEBSOCKET_PING_INTERVAL = 2.5
    settings.WEBSOCKET_PING_TIMEOUT = None
    config = uvicorn.Config("tests.asgi_app:application", ws_max_size=10**6, ws_ping_interval=9)
    derived = uvicorn_entry_point.configured(config)
    assert (derived.ws_max_size, derived.ws_ping_interval, derived.ws_ping_timeout) == (
        4096,
        2.5,
        None,
    )
    assert (config.ws_max_size, config.ws_ping_interval) == (10**6, 9)  # the server's own


def test_the_derived_config_is_made_once_per_settings_snapshot(settings: Any) -> None:
    config = uvicorn.Config("tests.asgi_app:application")
    first = uvicorn_entry_point.configured(config)
    assert uvicorn_entry_point.configured(config) is first
    settings.WEBSOCKET_MAX_MESSAGE_SIZE = 1234
    again = uvicorn_entry_point.configured(config)
    assert again is not first
    assert again.ws_max_size == 1234


def test_the_websocket_protocol_reads_the_close_timeout(settings: Any) -> None:
    settings.WEBSOCKET_CLOSE_TIMEOUT = 2.5
    loop = asyncio.new_event_loop()
    try:
        protocol = uvicorn_entry_point.WebSocketProtocol(
            uvicorn.Config("tests.asgi_app:application"), ServerState(), {}, loop
        )
    finally:
        loop.close()
    assert protocol.close_timeout == 2.5


def test_the_gunicorn_worker_serves_with_the_entry_points_protocols() -> None:
    assert UvicornWorker.CONFIG_KWARGS["ws"] is uvicorn_entry_point.WebSocketProtocol
    assert UvicornWorker.CONFIG_KWARGS["http"] is uvicorn_entry_point.HTTPProtocol


# daphne installs Twisted's reactor on import: its server is built in a process of its own.
BUILD_DAPHNE_SERVER = """
import json, sys
from django_asgi_ws.servers.daphne import CommandLineInterface

class Inspect(CommandLineInterface):
    server_class = None

def capture(application, **arguments):
    server = Inspect.real_class(application, **arguments)
    print(json.dumps({
        "max_message_size": server.websocket_max_message_size,
        "ping_interval": server.ping_interval,
        "ping_timeout": server.ping_timeout,
        "signal_handlers": server.signal_handlers,
        "request_timeout": server.request_timeout,
        "shutdown_timeout": server.shutdown_timeout,
        "close_timeout": server.close_timeout,
    }))
    raise SystemExit(0)

from django_asgi_ws.servers.daphne import EntryPointServer
Inspect.real_class = EntryPointServer
Inspect.server_class = staticmethod(capture)
Inspect().run(sys.argv[1:])
"""


def test_the_daphne_entry_point_takes_the_settings_over_daphnes_options() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            BUILD_DAPHNE_SERVER,
            "tests.asgi_app:application",
            "--ping-interval",
            "99",
            "--websocket-max-message-size",
            "99",
        ],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings_entry_points", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    built = json.loads(result.stdout.strip().splitlines()[-1])
    assert built == {
        "max_message_size": 4096,
        "ping_interval": 1.0,
        "ping_timeout": 20.0,
        "signal_handlers": False,  # ours, which drain, replace Twisted's
        "request_timeout": 10.0,
        "shutdown_timeout": 1.5,
        "close_timeout": 2.5,
    }
