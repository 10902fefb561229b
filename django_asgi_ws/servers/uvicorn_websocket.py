"""uvicorn's websocket protocol, as ``runasgi`` and the production entry points serve it.

uvicorn's sans-I/O protocol on websockets, adjusted so that a handshake
websockets cannot read (oversized, or with a Transfer-Encoding) is answered
instead of left open, invalid UTF-8 from a client closes with 1007 without
logging a traceback, even when the client's close frame came with it, a close
frame between two fragments of a message is answered as a close (RFC 6455
allows control frames there; websockets answers 1002), and a connection the
server closes is gone within ``close_timeout`` seconds, even when its client
stopped reading (see ``_bound_closing``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
import struct
from typing import Any

from django_asgi_ws import frames
from django_asgi_ws.collector import tune_collector
from django_asgi_ws.servers.base import ServerOptions
from django_asgi_ws.status import CloseCode

# SO_LINGER on, with a zero timeout: closing the socket discards what it still
# had to send and resets the connection.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


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
        #: Seconds a connection has to end once the server began closing it.
        closing_timeout: float = ServerOptions.close_timeout

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # uvicorn's wait for the client's close frame; the bound of any close here.
            self.close_timeout = self.closing_timeout
            self._closing_deadline: float | None = None
            self._abort_timer: asyncio.TimerHandle | None = None
            self._receive_frame = self.conn.recv_frame
            self.conn.recv_frame = self._receive_frame_between_fragments  # type: ignore[method-assign]

        def handle_connect(self, event: Any) -> None:
            tune_collector()  # the application is loaded by now
            super().handle_connect(event)
            # Built above, unless the handshake was refused; the application's
            # task has not started yet.
            scope = getattr(self, "scope", None)
            if scope is not None:
                scope["extensions"][frames.EXTENSION] = {
                    "write": self._write_prepared_frame,
                    "close_stalled": self._close_stalled,
                }

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

        def _close_stalled(self, code: int, reason: str) -> bool:
            """Close now, from outside the view, if the client stopped reading (the
            send buffer is full); whether it did. See ``frames``."""
            if (
                self.writable.is_set()
                or self.disconnected
                or self.conn.state is not State.OPEN
                or self.transport.is_closing()
            ):
                return False
            self._close(code, reason)
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
            message_type = message["type"]
            if self.handshake_complete and self.conn.state is not State.OPEN:
                # Closing or closed, by either side: a send means the client is gone
                # (uvicorn would raise RuntimeError), a second close means nothing.
                if message_type == "websocket.send":
                    raise ClientDisconnected()
                if message_type == "websocket.close":
                    return
            if message_type == "websocket.send":
                try:
                    await super().send(message)
                except RuntimeError:
                    if self.close_sent:  # while the send waited for the buffer to drain
                        raise ClientDisconnected() from None
                    raise
                return
            if message_type == "websocket.close" and self.handshake_complete:
                if not self.transport.is_closing():
                    self._close(message.get("code", 1000), message.get("reason") or "")
                return
            await super().send(message)
            if message_type == "websocket.http.response.body" and not message.get(
                "more_body", False
            ):
                # uvicorn does not count a denial response as an answer to the
                # handshake, and would log an error for every refused connection.
                self.handshake_complete = True
            if self.transport.is_closing():
                self._bound_closing()  # a refusal, sent

        def _close(self, code: int, reason: str) -> None:
            """Send the view's close frame, and wait for the client's within the bound.

            As uvicorn does, but without first waiting for the send buffer to
            drain, which a client that stopped reading never lets happen: the
            frame goes behind what the buffer holds.
            """
            self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
            self.conn.send_close(code, reason)
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            if self.read_paused:  # the client's close frame must be read
                self.read_paused = False
                self.transport.resume_reading()
            # uvicorn's timer: until the client's close frame, the end of the view
            # does not close the transport, and that frame cancels it.
            self.close_timer = self._bound_closing()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self.handshake_initiated and self.conn.handshake_exc is not None:
                self._refuse_unreadable_request()

        # Where a close begins, besides the view's and ours: each is bounded. (A
        # refused handshake's answer is small enough for any socket's buffer.)

        def handle_close(self, event: Any) -> None:
            super().handle_close(event)
            self._bound_closing()

        def handle_parser_exception(self) -> None:
            super().handle_parser_exception()
            self._bound_closing()

        def keepalive_timeout(self) -> None:
            super().keepalive_timeout()
            self._bound_closing()

        def eof_received(self) -> None:
            # The transport closes once its buffer has drained.
            self._bound_closing()

        def on_task_complete(self, task: asyncio.Task[None]) -> None:
            # The application returned; uvicorn closed the transport unless it
            # waits for the client's close frame.
            super().on_task_complete(task)
            if self.transport.is_closing():
                self._bound_closing()

        def _bound_closing(self) -> asyncio.TimerHandle | None:
            """Abort the connection if it is still open ``close_timeout`` seconds after
            the server began closing it; the timer that will, if one is needed.

            asyncio's ``transport.close()`` waits for the send buffer to drain,
            and a close frame waits behind it: a client that stopped reading
            would hold the connection, its view and its buffer forever. Called
            wherever a close begins; again, it keeps the first deadline (uvicorn
            cancels its close timer when the client's close frame arrives,
            although the buffer may still be full). No timer for a transport
            closing with nothing left to send: it is gone at once.
            """
            transport = self.transport
            if self.disconnected or (
                transport.is_closing() and not transport.get_write_buffer_size()
            ):
                return None  # gone, or going now: nothing is left to send
            if self._closing_deadline is None:
                self._closing_deadline = self.loop.time() + self.close_timeout
            timer = self._abort_timer
            if timer is None or timer.cancelled():
                timer = self._abort_timer = self.loop.call_at(
                    self._closing_deadline, self._abort_unclosed
                )
            return timer

        def _abort_unclosed(self) -> None:
            self._abort_timer = None
            if not self.disconnected:  # else the timer merely outlived the connection
                # A reset, as Twisted's abortConnection() sends: else the kernel
                # goes on offering the buffered data to a client that reads none.
                sock = self.transport.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
                self.transport.abort()

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
            self._bound_closing()

        def shutdown(self) -> None:
            code = self.shutdown_close_code
            if code == CloseCode.SERVICE_RESTART or self.close_sent or not self.handshake_complete:
                super().shutdown()  # uvicorn's own: 1012 for open sockets
            else:
                self.stop_keepalive()
                self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": ""})
                self.conn.send_close(code)
                self.transport.write(b"".join(self.conn.data_to_send()))
                self.transport.close()
            self._bound_closing()

    return WebSocketProtocol
