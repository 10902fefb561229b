"""daphne, adapted so that it behaves on the wire as uvicorn does.

Plain daphne (through its protocol library) only sends the close codes 1000
and 3000-4999 from an application, never sends an empty message, drops the
TCP connection without a close frame on protocol errors and oversize messages,
and has no lifespan support. Here:

- any close code an application may send (1000-1003, 1007-1014, 3000-4999)
  goes out in the close frame, with its reason;
- empty text and binary messages are sent;
- protocol failures send a close frame (1002, 1007, 1009...) before dropping;
- lifespan startup runs before the first connection is served and lifespan
  shutdown after the last one.
"""

from __future__ import annotations

# daphne.server installs Twisted's asyncio reactor on import; it must come first.
import daphne.server  # isort: skip

import asyncio
import logging
from typing import Any

import daphne
from daphne.endpoints import build_endpoint_description_strings
from daphne.ws_protocol import WebSocketProtocol as DaphneWebSocketProtocol
from twisted.internet import defer, reactor

from django_asgi_ws.asgi_types import ASGIApp
from django_asgi_ws.servers.base import ReadyCallback, ServerOptions
from django_asgi_ws.servers.lifespan import LifespanManager

logger = logging.getLogger("django_asgi_ws.server")


class WebSocketProtocol(DaphneWebSocketProtocol):  # type: ignore[misc]
    def handle_reply(self, message: dict[str, Any]) -> None:
        message_type = message.get("type")
        if message_type == "websocket.send" and self.state == self.STATE_OPEN:
            data, text = message.get("bytes"), message.get("text")
            if data is not None and text is not None:
                raise ValueError("A websocket.send message has both bytes and text.")
            if data is not None:
                self.sendMessage(bytes(data), isBinary=True)
            elif text is not None:
                self.sendMessage(text.encode(), isBinary=False)
            return
        if message_type == "websocket.close" and self.state == self.STATE_OPEN:
            code = message.get("code") or 1000
            reason = message.get("reason") or ""
            # sendClose() would refuse codes below 3000 other than 1000.
            self.sendCloseFrame(code=code, reasonUtf8=reason.encode(), isReply=False)
            return
        super().handle_reply(message)


class _Server(daphne.server.Server):  # type: ignore[misc]
    """daphne's Server with our protocol, lifespan, and a bound-address report."""

    on_ready: ReadyCallback | None = None
    lifespan: LifespanManager

    # Server.run() builds its websocket factory inline; this setter is the one
    # place to give that factory our protocol and fail-with-close-frame policy.
    @property
    def ws_factory(self) -> Any:
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory: Any) -> None:
        factory.protocol = WebSocketProtocol
        factory.failByDrop = False
        self._ws_factory = factory

    def run(self) -> None:
        reactor.callWhenRunning(self._start_lifespan)
        super().run()

    def _start_lifespan(self) -> None:
        future = asyncio.ensure_future(self.lifespan.startup())
        future.add_done_callback(self._lifespan_started)

    def _lifespan_started(self, future: asyncio.Future[None]) -> None:
        if future.exception() is not None:
            logger.error("Application startup failed: %s", future.exception())
            self.stop()

    def kill_all_applications(self) -> Any:
        killed = super().kill_all_applications()
        shutdown = defer.Deferred.fromFuture(asyncio.ensure_future(self.lifespan.shutdown()))
        return defer.gatherResults([killed, shutdown], consumeErrors=True)

    def listen_success(self, port: Any) -> None:
        super().listen_success(port)
        if self.on_ready is not None and self.listening_addresses:
            host, bound_port = self.listening_addresses[-1]
            self.on_ready(host, bound_port)


class DaphneServer:
    name = "daphne"

    def __init__(self, application: ASGIApp, options: ServerOptions) -> None:
        self.options = options
        self.application = application
        self._server = _Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=options.host, port=options.port),
            signal_handlers=options.install_signal_handlers,
            root_path=options.root_path,
            websocket_max_message_size=options.max_message_size,
            websocket_max_frame_size=options.max_message_size,
            ping_interval=options.ping_interval if options.ping_interval else 10**9,
            ping_timeout=options.ping_timeout if options.ping_timeout else 0,
            application_close_timeout=5,
        )
        self._server.lifespan = LifespanManager(application)

    @property
    def version(self) -> str:
        return str(daphne.__version__)

    def run(self, on_ready: ReadyCallback | None = None) -> None:
        self._server.on_ready = on_ready
        self._server.run()

    def stop(self) -> None:
        reactor.callFromThread(self._server.stop)


SERVER_CLASS = DaphneServer
