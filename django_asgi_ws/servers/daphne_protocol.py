"""daphne's websocket protocol, made to behave on the wire as uvicorn's does.

See :mod:`django_asgi_ws.servers.daphne_server` for the list; this module holds
the connection's side: close codes and frames, empty messages, backpressure in
both directions, and the subprotocol offer.
"""

from __future__ import annotations

# daphne.server installs Twisted's asyncio reactor on import; it must come first.
import asyncio
import contextlib
from typing import Any

from autobahn.websocket.types import ConnectionDeny
from daphne.ws_protocol import WebSocketProtocol as DaphneWebSocketProtocol
from twisted.internet import reactor as twisted_reactor
from twisted.internet.protocol import connectionDone

from django_asgi_ws.asgi_types import ASGIMessage
from django_asgi_ws.status import CloseCode

# Twisted's reactor is typed through interfaces that mypy reads as unbound methods.
reactor: Any = twisted_reactor


class Inbox(asyncio.Queue[ASGIMessage]):
    """What a websocket's client sent and its view has not received yet.

    Reading from the socket pauses while a message waits and resumes when the
    view takes the last one, as uvicorn does: a client sending faster than its
    view reads cannot make the server buffer without bound (daphne's own queue
    takes everything).
    """

    def __init__(self, protocol: WebSocketProtocol) -> None:
        super().__init__()
        self._protocol = protocol
        self._paused = False

    def put_nowait(self, item: ASGIMessage) -> None:
        super().put_nowait(item)
        if not self._paused and item["type"] == "websocket.receive":
            self._paused = True
            self._protocol.pause_reading()

    async def get(self) -> ASGIMessage:
        item = await super().get()
        if self._paused and self.empty():
            self._paused = False
            self._protocol.resume_reading()
        return item


class WebSocketProtocol(DaphneWebSocketProtocol):  # type: ignore[misc]
    """daphne's protocol; a connection the server closes is gone within the
    factory's ``close_timeout`` seconds.

    Its close frame may wait behind a send buffer that a client which stopped
    reading never drains, and Twisted closes a connection gracefully only
    once its buffer is empty: the connection is aborted when the time is up,
    counted from the close frame (or from the graceful drop, where autobahn
    drops without one). autobahn's own closeHandshakeTimeout, which the
    server turns off, counts in whole seconds, up to one early.
    """

    _abort_call: Any = None

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

    # Reading, paused while a message waits for the view (see Inbox) ----------

    def pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.pauseProducing()

    def resume_reading(self) -> None:
        if self.transport is not None and getattr(self.transport, "connected", False):
            self.transport.resumeProducing()

    # Writing: the channel forwards the socket's write pauses to us -------------

    def pauseProducing(self) -> None:
        self._writable.clear()

    def resumeProducing(self) -> None:
        self._writable.set()

    def stopProducing(self) -> None:
        self._writable.set()

    def connectionLost(self, reason: Any = connectionDone) -> None:
        self._writable.set()
        if self._abort_call is not None and self._abort_call.active():
            self._abort_call.cancel()
        super().connectionLost(reason)

    @property
    def writable(self) -> asyncio.Event:
        """Set while the socket's send buffer has room, or once the connection is gone."""
        return self._writable

    def write_prepared_frame(self, frame: bytes) -> bool:
        """Write a frame built by ``django_asgi_ws.frames``, if the socket can take it as it is.

        Not while the send buffer is full (sends wait for it to drain), not
        once closing, not in the middle of a message autobahn is sending, nor
        with permessage-deflate (compression differs per socket): the caller
        then sends through ``websocket.send``.
        """
        transport = self.transport
        if (
            not self._writable.is_set()
            or self.state != self.STATE_OPEN
            or self.send_state != self.SEND_STATE_GROUND
            or self._perMessageCompress is not None
            or transport is None
        ):
            return False
        transport.write(frame)
        return True

    def close_stalled(self, code: int, reason: str) -> bool:
        """Close now, from outside the view, if the client stopped reading (the send
        buffer is full); whether it did. See ``django_asgi_ws.frames``."""
        if self._writable.is_set() or self.state != self.STATE_OPEN:
            return False
        self.sendCloseFrame(code=code, reasonUtf8=reason.encode(), isReply=False)
        return True

    def onConnect(self, request: Any) -> Any:
        offers = request.headers.get("sec-websocket-protocol")
        if offers is not None and not offers.isascii():
            # daphne decodes the offer as ASCII and would answer 500.
            raise ConnectionDeny(400, "Invalid Sec-WebSocket-Protocol header.")  # type: ignore[no-untyped-call]
        return super().onConnect(request)

    def sendCloseFrame(
        self, code: int | None = None, reasonUtf8: bytes | None = None, isReply: bool = False
    ) -> None:
        if self.state == self.STATE_OPEN:
            self._abort_after_close_timeout()
        super().sendCloseFrame(code=code, reasonUtf8=reasonUtf8, isReply=isReply)

    def dropConnection(self, abort: bool = False) -> None:
        if abort and self.failedByMe and self.state != self.STATE_CLOSED:
            # After answering a protocol error (an invalid close frame, say) with a
            # close frame, autobahn aborts the connection when the client's close
            # arrives, discarding ours unsent. Let it flush, then abort.
            abort = False
        if not abort and self.state != self.STATE_CLOSED:
            self._abort_after_close_timeout()
        super().dropConnection(abort)

    def _abort_after_close_timeout(self) -> None:
        """Abort the connection if it is still open ``close_timeout`` seconds after
        the first call, where the close began."""
        if self._abort_call is None:
            self._abort_call = reactor.callLater(
                self.factory.close_timeout, self._abort_if_connected
            )

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
