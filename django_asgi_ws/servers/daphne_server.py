"""daphne, adapted so that it behaves on the wire as uvicorn does.

Plain daphne (through its protocol library) only sends the close codes 1000
and 3000-4999 from an application, never sends an empty message, drops the
TCP connection without a close frame on protocol errors and oversize messages,
and has no lifespan support. Here:

- any close code an application may send (1000-1003, 1007-1014, 3000-4999)
  goes out in the close frame, with its reason;
- empty text and binary messages are sent;
- a send waits while the client is not reading (backpressure), as on uvicorn;
- protocol failures send a close frame (1002, 1007, 1009...) before dropping,
  invalid close frames from the client included;
- a non-ASCII subprotocol offer is refused with 400, not 500;
- lifespan startup runs before the first connection is served and lifespan
  shutdown after the last one.
"""

from __future__ import annotations

# daphne.server installs Twisted's asyncio reactor on import; it must come first.
import daphne.server  # isort: skip

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import Any

import daphne
from autobahn.websocket.types import ConnectionDeny
from daphne.endpoints import build_endpoint_description_strings
from daphne.ws_protocol import WebSocketProtocol as DaphneWebSocketProtocol
from twisted.internet import defer
from twisted.internet import reactor as twisted_reactor
from twisted.internet.protocol import connectionDone

from django_asgi_ws.asgi_types import ASGIApp
from django_asgi_ws.servers.base import ReadyCallback, ServerOptions
from django_asgi_ws.servers.lifespan_driver import LifespanManager
from django_asgi_ws.status import CloseCode

logger = logging.getLogger("django_asgi_ws.server")

# Twisted's reactor is typed through interfaces that mypy reads as unbound methods.
reactor: Any = twisted_reactor


class WebSocketProtocol(DaphneWebSocketProtocol):  # type: ignore[misc]
    # How long a client that broke the protocol has to read our close frame.
    close_frame_flush_timeout = 2.0

    def connectionMade(self) -> None:
        super().connectionMade()
        # Backpressure, as uvicorn applies it: a send waits while the socket's
        # buffer is full, so a client that stops reading cannot make Twisted
        # buffer without bound. The HTTP channel the handshake came through is
        # still the transport's producer; it forwards pause and resume to us.
        self._writable = asyncio.Event()
        self._writable.set()
        channel = getattr(self.transport, "producer", None)
        if channel is not None and hasattr(channel, "registerProducer"):
            # RuntimeError: another producer is registered; then there is none.
            with contextlib.suppress(RuntimeError):
                channel.registerProducer(self, True)

    def pauseProducing(self) -> None:
        self._writable.clear()

    def resumeProducing(self) -> None:
        self._writable.set()

    def stopProducing(self) -> None:
        self._writable.set()

    def connectionLost(self, reason: Any = connectionDone) -> None:
        self._writable.set()
        super().connectionLost(reason)

    @property
    def writable(self) -> asyncio.Event:
        """Set while the socket's send buffer has room, or once the connection is gone."""
        return self._writable

    def onConnect(self, request: Any) -> Any:
        offers = request.headers.get("sec-websocket-protocol")
        if offers is not None and not offers.isascii():
            # daphne decodes the offer as ASCII and would answer 500.
            raise ConnectionDeny(400, "Invalid Sec-WebSocket-Protocol header.")  # type: ignore[no-untyped-call]
        return super().onConnect(request)

    def dropConnection(self, abort: bool = False) -> None:
        if abort and self.failedByMe and self.state != self.STATE_CLOSED:
            # After answering a protocol error (an invalid close frame, say) with a
            # close frame, autobahn aborts the connection when the client's close
            # arrives, discarding ours unsent. Let it flush, then abort.
            reactor.callLater(self.close_frame_flush_timeout, self._abort_if_connected)
            abort = False
        super().dropConnection(abort)

    def _abort_if_connected(self) -> None:
        transport = self.transport
        if transport is not None and getattr(transport, "connected", False):
            transport.abortConnection()

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
        if message_type == "websocket.accept" and message.get("headers"):
            # daphne drops accept headers; autobahn sends those returned with the subprotocol.
            self.handshake_deferred.callback(
                (message.get("subprotocol"), _accept_headers(message["headers"]))
            )
            del self.handshake_deferred
            return
        if self.state in (self.STATE_CLOSING, self.STATE_CLOSED):
            # Either side closed: a send means the client is gone (autobahn would raise
            # Disconnected, which is no OSError), a second close means nothing.
            if message_type == "websocket.send":
                raise ConnectionResetError("The websocket connection is closed.")
            if message_type == "websocket.close":
                return
        if message_type == "websocket.close" and self.state == self.STATE_OPEN:
            code = message.get("code") or CloseCode.NORMAL_CLOSURE
            reason = message.get("reason") or ""
            # sendClose() would refuse codes below 3000 other than 1000.
            self.sendCloseFrame(code=code, reasonUtf8=reason.encode(), isReply=False)
            return
        super().handle_reply(message)


def _accept_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in raw:
        if any(byte in name + value for byte in b"\r\n\0"):
            raise ValueError(f"Invalid header in websocket.accept: {name!r}: {value!r}")
        headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    return headers


class _Server(daphne.server.Server):  # type: ignore[misc]
    """daphne's Server with our protocol, lifespan, and a bound-address report."""

    on_ready: ReadyCallback | None = None
    lifespan: LifespanManager
    # A listening socket to adopt instead of the endpoints (the reloader keeps
    # the port bound across restarts). daphne's "fd:" endpoint string cannot
    # name an IPv6 socket, so it is adopted here directly.
    adopt_fd: int | None = None
    adopt_family: int = socket.AF_INET

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

    async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
        if (
            isinstance(protocol, WebSocketProtocol)
            and not protocol.writable.is_set()
            and message.get("type") == "websocket.send"
        ):
            await protocol.writable.wait()
        await super().handle_reply(protocol, message)

    request_timeout: float | None = None

    # Likewise for the HTTP factory: Twisted's idle timeout (60 s by default)
    # drops a connection that sends nothing for that long before its request.
    @property
    def http_factory(self) -> Any:
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory: Any) -> None:
        if self.request_timeout is not None:
            factory.timeOut = self.request_timeout
        self._http_factory = factory

    def run(self) -> None:
        if self.adopt_fd is not None:
            self.endpoints: list[str] = []
            reactor.callWhenRunning(self._adopt_listening_socket)
        reactor.callWhenRunning(self._start_lifespan)
        super().run()

    def _adopt_listening_socket(self) -> None:
        assert self.adopt_fd is not None
        os.set_blocking(self.adopt_fd, False)  # as Twisted's own "fd:" endpoint does
        port = reactor.adoptStreamPort(self.adopt_fd, self.adopt_family, self.http_factory)
        self.listeners.append(defer.succeed(port))
        self.listen_success(port)

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

    def close_gracefully(self, close_code: int, timeout: float) -> None:
        """Close every open websocket with *close_code*, give views *timeout* s, then stop."""
        for listener in self.listeners:
            listener.addCallback(lambda port: port.stopListening())
        for protocol in list(self.connections):
            if isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN:
                protocol.sendCloseFrame(code=close_code, isReply=False)
        deadline = time.monotonic() + timeout

        def stop_when_idle() -> None:
            running = [
                details["application_instance"]
                for details in self.connections.values()
                if "application_instance" in details and not details["application_instance"].done()
            ]
            if running and time.monotonic() < deadline:
                reactor.callLater(0.05, stop_when_idle)
            else:
                self.stop()

        stop_when_idle()

    def listen_success(self, port: Any) -> None:
        super().listen_success(port)
        if self.on_ready is not None and self.listening_addresses:
            host, bound_port = self.listening_addresses[-1]
            self.on_ready(host, bound_port)


class DaphneServer:
    name = "daphne"

    @classmethod
    def check_installed(cls) -> None:
        """daphne brings its websocket library: importing it was the check."""

    def __init__(self, application: ASGIApp, options: ServerOptions) -> None:
        self.options = options
        self.application = application
        self._server = _Server(
            application=application,
            # Placeholder when a socket is adopted: daphne refuses an empty list.
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
        self._server.request_timeout = options.request_timeout
        if options.fd is not None:
            self._server.adopt_fd = options.fd
            self._server.adopt_family = socket.AF_INET6 if ":" in options.host else socket.AF_INET

    @property
    def version(self) -> str:
        return str(daphne.__version__)

    def run(self, on_ready: ReadyCallback | None = None) -> None:
        self._server.on_ready = on_ready
        self._server.run()

    def stop(self, close_code: int = CloseCode.GOING_AWAY) -> None:
        reactor.callFromThread(
            self._server.close_gracefully, close_code, self.options.shutdown_timeout
        )


SERVER_CLASS = DaphneServer
