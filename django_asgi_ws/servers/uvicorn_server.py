"""uvicorn, with an explicit websocket implementation and Django's logging left alone."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import Generator
from typing import Any

import uvicorn

from django_asgi_ws.asgi_types import ASGIApp
from django_asgi_ws.servers.base import MissingServerError, ReadyCallback, ServerOptions


def websocket_implementation() -> str | type[asyncio.Protocol]:
    """The uvicorn ``ws`` option to use; refuses to serve websockets as plain HTTP."""
    if importlib.util.find_spec("websockets") is not None:
        return _websockets_protocol()
    if importlib.util.find_spec("wsproto") is not None:
        return "wsproto"
    raise MissingServerError(
        "uvicorn is installed without a websocket library, so it would serve websocket "
        "requests as plain HTTP: pip install 'uvicorn[standard]'."
    )


def _websockets_protocol() -> type[asyncio.Protocol]:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    class WebSocketProtocol(WebSocketsSansIOProtocol):
        async def send(self, message: Any) -> None:
            await super().send(message)
            if message["type"] == "websocket.http.response.body" and not message.get(
                "more_body", False
            ):
                # uvicorn does not count a denial response as an answer to the
                # handshake, and would log an error for every refused connection.
                self.handshake_complete = True

    return WebSocketProtocol


class _Server(uvicorn.Server):
    """Reports the bound address, and leaves signals alone when asked to."""

    on_ready: ReadyCallback | None = None
    handle_signals = True

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_ready is not None:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self.on_ready(host, port)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if self.handle_signals:
            with super().capture_signals():
                yield
        else:
            yield


class UvicornServer:
    name = "uvicorn"

    def __init__(self, application: ASGIApp, options: ServerOptions) -> None:
        self.options = options
        self.config = uvicorn.Config(
            application,
            host=options.host,
            port=options.port,
            root_path=options.root_path,
            ws=websocket_implementation(),
            ws_max_size=options.max_message_size,
            ws_ping_interval=options.ping_interval,
            ws_ping_timeout=options.ping_timeout,
            lifespan="auto",
            log_config=None,  # keep Django's LOGGING
            access_log=False,
            server_header=False,
        )
        self._server = _Server(self.config)
        self._server.handle_signals = options.install_signal_handlers

    @property
    def version(self) -> str:
        return str(uvicorn.__version__)

    def run(self, on_ready: ReadyCallback | None = None) -> None:
        self._server.on_ready = on_ready
        self._server.run()

    def stop(self) -> None:
        self._server.should_exit = True


SERVER_CLASS = UvicornServer
