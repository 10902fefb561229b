"""daphne, adapted so that it behaves on the wire as uvicorn does.

Plain daphne (through its protocol library) only sends the close codes 1000
and 3000-4999 from an application, never sends an empty message, drops the
TCP connection without a close frame on protocol errors and oversize messages,
and has no lifespan support. Here:

- any close code an application may send (1000-1003, 1007-1014, 3000-4999)
  goes out in the close frame, with its reason;
- empty text and binary messages are sent;
- a send waits while the client is not reading, and reading from a client
  pauses while a message waits for its view (backpressure both ways), as on
  uvicorn;
- protocol failures send a close frame (1002, 1007, 1009...) before dropping,
  invalid close frames from the client included;
- a non-ASCII subprotocol offer is refused with 400, not 500;
- a connection whose first request's head has not arrived within the
  handshake timeout is dropped, however slowly it trickles in;
- a connection the server closes is aborted if it has not ended within the
  close timeout (a client that stopped reading never lets its close frame
  through);
- lifespan startup runs before the first connection is served and lifespan
  shutdown after the last one;
- a graceful stop closes every open websocket with a close frame, then gives
  the views a bounded time to finish.

The connection's side is in :mod:`~django_asgi_ws.servers.daphne_protocol`;
the production entry point is :mod:`django_asgi_ws.servers.daphne`.
"""

from __future__ import annotations

# daphne.server installs Twisted's asyncio reactor on import; it must come first.
import daphne.server  # isort: skip

import asyncio
import functools
import logging
import os
import socket
import time
from typing import Any

import daphne
from daphne.endpoints import build_endpoint_description_strings
from twisted.internet import defer, threads

from django_asgi_ws import frames
from django_asgi_ws.asgi_types import ASGIApp
from django_asgi_ws.collector import tune_collector
from django_asgi_ws.servers.base import ReadyCallback, ServerOptions
from django_asgi_ws.servers.daphne_http import RequestHeadDeadlineFactory
from django_asgi_ws.servers.daphne_protocol import Inbox, WebSocketProtocol, reactor
from django_asgi_ws.servers.lifespan_driver import LifespanManager
from django_asgi_ws.servers.versions import check_server_versions
from django_asgi_ws.status import CloseCode

logger = logging.getLogger("django_asgi_ws.server")


def server_arguments(options: ServerOptions) -> dict[str, Any]:
    """The arguments of daphne's Server that the ``WEBSOCKET_*`` settings decide."""
    return {
        "websocket_max_message_size": options.max_message_size,
        "websocket_max_frame_size": options.max_message_size,
        # daphne has no "never": a ping interval longer than any connection, and
        # a zero timeout, which autobahn reads as none.
        "ping_interval": options.ping_interval if options.ping_interval else 10**9,
        "ping_timeout": options.ping_timeout if options.ping_timeout else 0,
    }


class Server(daphne.server.Server):  # type: ignore[misc]
    """daphne's Server with our protocol, lifespan, graceful stop and a bound-address report."""

    on_ready: ReadyCallback | None = None
    lifespan: LifespanManager
    # A listening socket to adopt instead of the endpoints (the reloader keeps
    # the port bound across restarts). daphne's "fd:" endpoint string cannot
    # name an IPv6 socket, so it is adopted here directly.
    adopt_fd: int | None = None
    adopt_family: int = socket.AF_INET

    # Seconds a connection the server closes has to end before it is aborted.
    close_timeout: float = ServerOptions.close_timeout

    # Server.run() builds its websocket factory inline; this setter is the one
    # place to give that factory our protocol, fail-with-close-frame policy and
    # close timeout, which replaces autobahn's (see WebSocketProtocol).
    @property
    def ws_factory(self) -> Any:
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory: Any) -> None:
        factory.protocol = WebSocketProtocol
        factory.failByDrop = False
        factory.close_timeout = self.close_timeout
        factory.setProtocolOptions(closeHandshakeTimeout=0)
        self._ws_factory = factory

    async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
        if isinstance(protocol, WebSocketProtocol) and message.get("type") == "websocket.send":
            if not protocol.writable.is_set():
                await protocol.writable.wait()
            if protocol.state == protocol.STATE_CLOSED:
                # daphne would drop the message and return: a view sending in a
                # loop would never learn that its client is gone, nor yield.
                raise ConnectionResetError("The websocket connection is closed.")
        await super().handle_reply(protocol, message)

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
        if not isinstance(protocol, WebSocketProtocol):
            return super().create_application(protocol, scope)
        tune_collector()  # the application is loaded by now
        # As daphne does, but the view receives from an Inbox, which pauses reading.
        if protocol not in self.connections:
            return None  # the client left during the handshake
        inbox = Inbox(protocol)
        scope.setdefault("asgi", {"version": "3.0"})
        extensions = scope.setdefault("extensions", {})
        extensions[frames.EXTENSION] = {
            "write": protocol.write_prepared_frame,
            "close_stalled": protocol.close_stalled,
        }
        instance = self.application(
            scope=scope, receive=inbox.get, send=functools.partial(self.handle_reply, protocol)
        )
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(instance)
        return inbox

    request_timeout: float | None = None

    # Likewise for the HTTP factory, replaced by one that drops a connection
    # whose first request's head is not in within request_timeout; Twisted's
    # idle timeout (60 s by default), set to the same, drops a connection that
    # sends nothing for that long.
    @property
    def http_factory(self) -> Any:
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory: Any) -> None:
        if self.request_timeout is not None:
            factory = RequestHeadDeadlineFactory(self, self.request_timeout)
            factory.timeOut = self.request_timeout
        self._http_factory = factory

    def run(self) -> None:
        self.ports: list[Any] = []  # listening, for stop_listening()
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
        """Cancel the views still running, wait for them, then run the shutdown hooks.

        Replaces daphne's, which expects every connection to still have its
        application (a KeyError once a view has finished, which stopped the
        shutdown hooks from running).
        """
        running = [
            details["application_instance"]
            for details in self.connections.values()
            if "application_instance" in details and not details["application_instance"].done()
        ]
        for instance in running:
            instance.cancel()

        async def finish() -> None:
            await asyncio.gather(*running, return_exceptions=True)
            await self.lifespan.shutdown()

        return defer.Deferred.fromFuture(asyncio.ensure_future(finish()))

    def stop_listening(self) -> None:
        """Accept no new connection (in the reactor's thread; again is harmless)."""
        for port in self.ports:
            port.stopListening()
        self.ports = []

    def close_gracefully(self, close_code: int, timeout: float) -> None:
        """Close every open websocket with *close_code*, give views *timeout* s, then stop."""
        self.stop_listening()
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
        self.ports.append(port)
        if self.on_ready is not None and self.listening_addresses:
            host, bound_port = self.listening_addresses[-1]
            self.on_ready(host, bound_port)


class DaphneServer:
    name = "daphne"

    @classmethod
    def check_installed(cls) -> None:
        """daphne brings its websocket library: importing it was the check."""
        check_server_versions(cls.name)

    def __init__(self, application: ASGIApp, options: ServerOptions) -> None:
        self.options = options
        self.application = application
        self._server = Server(
            application=application,
            # Placeholder when a socket is adopted: daphne refuses an empty list.
            endpoints=build_endpoint_description_strings(host=options.host, port=options.port),
            signal_handlers=options.install_signal_handlers,
            root_path=options.root_path,
            application_close_timeout=5,
            **server_arguments(options),
        )
        self._server.lifespan = LifespanManager(application)
        self._server.request_timeout = options.request_timeout
        self._server.close_timeout = options.close_timeout
        if options.fd is not None:
            self._server.adopt_fd = options.fd
            self._server.adopt_family = socket.AF_INET6 if ":" in options.host else socket.AF_INET

    @property
    def version(self) -> str:
        return str(daphne.__version__)

    def run(self, on_ready: ReadyCallback | None = None) -> None:
        self._server.on_ready = on_ready
        self._server.run()

    def stop_accepting(self) -> None:
        if reactor.running:
            threads.blockingCallFromThread(reactor, self._server.stop_listening)

    def stop(self, close_code: int = CloseCode.GOING_AWAY) -> None:
        reactor.callFromThread(
            self._server.close_gracefully, close_code, self.options.shutdown_timeout
        )


SERVER_CLASS = DaphneServer
