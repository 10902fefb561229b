"""uvicorn, with an explicit websocket implementation and Django's logging left alone.

The websocket protocol is uvicorn's sans-I/O one on websockets, adjusted so that a
handshake websockets cannot read (oversized, or with a Transfer-Encoding) is
answered instead of left open, invalid UTF-8 from a client closes with 1007
without logging a traceback, even when the client's close frame came with it,
and a close frame between two fragments of a message is answered as a close
(RFC 6455 allows control frames there; websockets answers 1002).
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

from django_asgi_ws import frames
from django_asgi_ws.asgi_types import ASGIApp
from django_asgi_ws.collector import tune_collector
from django_asgi_ws.servers.base import ReadyCallback, ServerOptions
from django_asgi_ws.servers.versions import check_server_versions, check_websocket_library
from django_asgi_ws.status import CloseCode


def websocket_protocol_class() -> Any:
    """A fresh protocol class, to carry one server's shutdown close code; "wsproto"
    when websockets is not installed."""
    if importlib.util.find_spec("websockets") is None:
        return "wsproto"
    from uvicorn.protocols.utils import ClientDisconnected
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.frames import Opcode
    from websockets.protocol import State

    class WebSocketProtocol(WebSocketsSansIOProtocol):
        shutdown_close_code: int = CloseCode.SERVICE_RESTART

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._receive_frame = self.conn.recv_frame
            self.conn.recv_frame = self._receive_frame_between_fragments  # type: ignore[method-assign]

        def handle_connect(self, event: Any) -> None:
            tune_collector()  # the application is loaded by now
            super().handle_connect(event)
            # Built above, unless the handshake was refused; the application's
            # task has not started yet.
            scope = getattr(self, "scope", None)
            if scope is not None:
                scope["extensions"][frames.EXTENSION] = {"write": self._write_prepared_frame}

        def _write_prepared_frame(self, frame: bytes) -> bool:
            """Write a frame built by ``frames``, if the socket can take it as it is.

            Not while the transport's buffer is full (``send`` waits for it to
            drain: a client that reads slowly slows its sender down), not once
            closing, nor with an extension negotiated (compression differs per
            socket): the caller then sends through ``send``.
            """
            conn = self.conn
            if (
                not self.writable.is_set()
                or self.disconnected
                or conn.state is not State.OPEN
                or conn.extensions
                or self.close_sent
                or self.transport.is_closing()
            ):
                return False
            self.transport.write(frame)
            return True

        def _receive_frame_between_fragments(self, frame: Any) -> None:
            """Let a close frame end the message whose fragments are arriving.

            Control frames may come between the fragments of a message (RFC 6455,
            5.4), and a close frame is answered with a close frame, the data after
            it discarded (1.4, 5.5.1): so the unfinished message is dropped and the
            close answered as any other, which is what Autobahn's case 7.1.5 checks.
            websockets would fail the connection with 1002 ("incomplete fragmented
            message") instead.
            """
            if frame.opcode is Opcode.CLOSE:
                # The size of the message under way, None between messages:
                # current_size since websockets 16, cur_size before.
                for name in ("current_size", "cur_size"):
                    if getattr(self.conn, name, None) is not None:
                        setattr(self.conn, name, None)
            self._receive_frame(frame)

        async def send(self, message: Any) -> None:
            if self.handshake_complete and self.conn.state is not State.OPEN:
                # Closing or closed, by either side: a send means the client is gone
                # (uvicorn would raise RuntimeError), a second close means nothing.
                if message["type"] == "websocket.send":
                    raise ClientDisconnected()
                if message["type"] == "websocket.close":
                    return
            await super().send(message)
            if message["type"] == "websocket.http.response.body" and not message.get(
                "more_body", False
            ):
                # uvicorn does not count a denial response as an answer to the
                # handshake, and would log an error for every refused connection.
                self.handshake_complete = True

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self.handshake_initiated and self.conn.handshake_exc is not None:
                self._refuse_unreadable_request()

        def _refuse_unreadable_request(self) -> None:
            """Answer a handshake websockets could not read, which uvicorn leaves hanging.

            websockets queues a 414 or 431 for an oversized request line or header
            block, and only an end of stream for anything else (a Transfer-Encoding,
            say); uvicorn sends neither, so the client would wait forever.
            """
            if self.transport.is_closing():
                return
            answer = b"".join(self.conn.data_to_send())
            if not answer:
                response = self.conn.reject(400, "Failed to open a WebSocket connection.\n")
                answer = response.serialize()
            self.handshake_complete = self.close_sent = True
            self.transport.write(answer)
            self.transport.close()

        def send_receive_event_to_app(self) -> None:
            if self.curr_msg_data_type != "text" or self.close_sent:
                super().send_receive_event_to_app()
                return
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            self.frames = []
            try:
                text = data.decode()
            except UnicodeDecodeError:
                # The client's error, not ours: uvicorn would log a traceback.
                self._fail(CloseCode.INVALID_PAYLOAD, "Invalid UTF-8 in a text message.")
                return
            self.queue.put_nowait({"type": "websocket.receive", "bytes": None, "text": text})
            if not self.read_paused:
                self.read_paused = True
                self.transport.pause_reading()

        def _fail(self, code: int, reason: str) -> None:
            """Close the connection for a client error, whatever the closing state.

            A close frame from the client may already have been read in the same
            write (uvicorn's send_close would raise then): its reply is sent instead.
            """
            self.conn.fail(code, reason)
            sent = self.conn.close_sent
            self.queue.put_nowait(
                {
                    "type": "websocket.disconnect",
                    "code": sent.code if sent is not None else code,
                    "reason": sent.reason if sent is not None else reason,
                }
            )
            self.close_sent = True
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()

        def shutdown(self) -> None:
            code = self.shutdown_close_code
            if code == CloseCode.SERVICE_RESTART or self.close_sent or not self.handshake_complete:
                super().shutdown()  # uvicorn's own: 1012 for open sockets
                return
            self.stop_keepalive()
            self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": ""})
            self.conn.send_close(code)
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()

    return WebSocketProtocol


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
            if self._request_timer is not None:
                self._request_timer.cancel()
            super().connection_lost(exc)

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
