"""uvicorn, with an explicit websocket implementation and Django's logging left alone.

The websocket protocol is in :mod:`~django_asgi_ws.servers.uvicorn_websocket`;
the HTTP protocol here drops a connection that does not send its request in
time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.util
import socket
from collections.abc import Callable, Generator
from typing import Any

import uvicorn

from django_asgi_ws.asgi_types import ASGIApp
from django_asgi_ws.servers.base import ReadyCallback, ServerOptions
from django_asgi_ws.servers.uvicorn_websocket import websocket_protocol_class
from django_asgi_ws.servers.versions import check_server_versions, check_websocket_library
from django_asgi_ws.status import CloseCode


def http_protocol_class(request_timeout: Callable[[], float | None]) -> Any:
    """uvicorn's HTTP protocol ("auto": httptools, else h11), dropping a connection
    whose first request's headers have not arrived within ``request_timeout()``
    seconds (read as each connection opens; None waits forever)."""
    base: Any
    if importlib.util.find_spec("httptools") is not None:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol

    class HTTPProtocol(base):  # type: ignore[misc]
        _request_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            timeout = request_timeout()
            if timeout is not None:
                self._request_timer = self.loop.call_later(timeout, self._request_timed_out)

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_request_timer()
            super().connection_lost(exc)

        def handle_websocket_upgrade(self, *args: Any) -> None:
            # The websocket protocol takes the connection over, and this one never
            # hears of it again: a timer left running would keep it alive (some
            # 5 KiB per socket) for the whole timeout after every handshake.
            self._cancel_request_timer()
            super().handle_websocket_upgrade(*args)

        def _cancel_request_timer(self) -> None:
            if self._request_timer is not None:
                self._request_timer.cancel()
                self._request_timer = None

        def _request_timed_out(self) -> None:
            # A request under way (self.cycle) or a websocket it became is left alone.
            if self.cycle is None and self.transport.get_protocol() is self:
                self.transport.close()

    return HTTPProtocol


class _Server(uvicorn.Server):
    """Reports the bound address, and leaves signals alone when asked to."""

    on_ready: ReadyCallback | None = None
    handle_signals = True
    loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: Any = None) -> None:
        self.loop = asyncio.get_running_loop()
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
        self._protocol = websocket_protocol_class()
        if not isinstance(self._protocol, str):
            self._protocol.closing_timeout = options.close_timeout
        self.config = uvicorn.Config(
            application,
            host=options.host,
            port=options.port,
            root_path=options.root_path,
            ws=self._protocol,
            http=(
                "auto"
                if options.request_timeout is None
                else http_protocol_class(lambda: options.request_timeout)
            ),
            ws_max_size=options.max_message_size,
            ws_ping_interval=options.ping_interval,
            ws_ping_timeout=options.ping_timeout,
            lifespan="auto",
            log_config=None,  # keep Django's LOGGING
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=max(1, round(options.shutdown_timeout)),
        )
        self._server = _Server(self.config)
        self._server.handle_signals = options.install_signal_handlers

    @classmethod
    def check_installed(cls) -> None:
        check_websocket_library()
        check_server_versions(cls.name)

    @property
    def version(self) -> str:
        return str(uvicorn.__version__)

    def run(self, on_ready: ReadyCallback | None = None) -> None:
        self._server.on_ready = on_ready
        sockets = None
        if self.options.fd is not None:
            sockets = [socket.socket(fileno=self.options.fd)]
        self._server.run(sockets=sockets)

    def stop_accepting(self) -> None:
        loop = self._server.loop
        if loop is None or loop.is_closed():
            return

        async def close_listeners() -> None:
            for server in self._server.servers:
                server.close()

        with contextlib.suppress(RuntimeError, concurrent.futures.TimeoutError):
            asyncio.run_coroutine_threadsafe(close_listeners(), loop).result(timeout=1)

    def stop(self, close_code: int = CloseCode.GOING_AWAY) -> None:
        if not isinstance(self._protocol, str):
            self._protocol.shutdown_close_code = close_code
        self._server.should_exit = True


SERVER_CLASS = UvicornServer
