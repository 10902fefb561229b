"""The object a websocket view talks to: one connection, one ASGI scope."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.core.serializers.json import DjangoJSONEncoder

from django_asgi_ws import frames
from django_asgi_ws.client_protocol import PLAIN, PROTOCOL, offers_protocol, refusal_code
from django_asgi_ws.db import connection_has_thread, open_connections, receive_between_requests
from django_asgi_ws.deadlines import HandshakeDeadline
from django_asgi_ws.exceptions import WebSocketDisconnect, WebSocketException, validate_close
from django_asgi_ws.limits import is_too_big
from django_asgi_ws.messages import (
    JSONMode,
    Messages,
    decode_json,
    encode_headers,
    json_kind,
    unexpected_kind,
)
from django_asgi_ws.refusal import send_refusal
from django_asgi_ws.request import HandshakeRequest
from django_asgi_ws.sessions import save_session_for_handshake, session_was_touched
from django_asgi_ws.status import (
    CONNECTED,
    CONNECTING,
    DISCONNECTED,
    CloseCode,
    WebSocketState,
    not_connected,
)

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django.urls import ResolverMatch

    from django_asgi_ws.asgi_types import Receive, Scope, Send
    from django_asgi_ws.limits import ConnectionLimits

__all__ = ["WebSocket", "WebSocketDisconnect", "WebSocketException", "WebSocketState"]

AcceptHook = Callable[[], Awaitable[None]]


class WebSocket(HandshakeRequest):
    """One websocket connection: request-like attributes plus send and receive.

    Views never build one; the handler does, after the ASGI ``websocket.connect``
    message arrived and the path resolved. A view may set attributes of its own
    on it.
    """

    # Slots keep an idle connection small; __dict__ stays for the cached
    # properties and for what views attach to the connection themselves.
    __slots__ = (
        "__dict__",
        "_accept_hook",
        "_handshake_deadline",
        "_implied_subprotocol",
        "_receive",
        "_send",
        "_write_frame",
        "accepted",
        "accepted_subprotocol",
        "close_code",
        "close_reason",
        "max_message_size",
        "path_info",
        "rate_limiter",
        "resolver_match",
        "scope",
        "state",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        resolver_match: ResolverMatch | None = None,
        path_info: str | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        #: The ASGI connection scope.
        self.scope = scope
        self._receive = receive
        self._send = send
        #: The ``ResolverMatch`` of the route.
        self.resolver_match = resolver_match
        #: A :class:`WebSocketState`: ``CONNECTING`` until the handshake is
        #: accepted or refused, ``CONNECTED`` while messages flow,
        #: ``DISCONNECTED`` once either side has closed.
        self.state = CONNECTING
        #: The path below the script prefix, as ``HttpRequest.path_info``; what
        #: is resolved against ``WEBSOCKET_URLCONF``.
        self.path_info: str = scope["path"] if path_info is None else path_info
        #: Whether the handshake was accepted (it stays true after the close).
        self.accepted = False
        #: The subprotocol :meth:`accept` chose, or ``None``.
        self.accepted_subprotocol: str | None = None
        #: The close code once the connection is closed, whoever closed it; else ``None``.
        self.close_code: int | None = None
        #: The close reason once the connection is closed.
        self.close_reason: str = ""
        self._request: HttpRequest | None = None
        # The server's writer of prepared frames, where it offers one (see frames).
        prepared = (scope.get("extensions") or {}).get(frames.EXTENSION) or {}
        self._write_frame: Callable[[bytes], bool] | None = prepared.get("write")
        self._accept_hook: AcceptHook | None = None
        # What accept() chooses when the view names no subprotocol: the client
        # protocol, for a WebSocketView that speaks it to a client that offered it.
        self._implied_subprotocol: str | None = None
        self._handshake_deadline: HandshakeDeadline | None = None
        self.max_message_size = limits.max_message_size if limits else None
        self.rate_limiter = limits.rate_limiter() if limits else None
        if limits is not None and limits.handshake_timeout is not None:
            self._handshake_deadline = HandshakeDeadline(limits.handshake_timeout)

    # Handshake ---------------------------------------------------------------

    def before_accept(self, hook: AcceptHook | None) -> None:
        """Await *hook* in :meth:`accept`, before the client hears of the accept.

        Subscribe to broadcast groups there, so that nothing published once
        the client is connected can be missed. If *hook* raises, the handshake
        is refused instead. ``None`` removes the hook.
        """
        self._accept_hook = hook

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]] | None = None,
    ) -> None:
        """Complete the handshake, optionally choosing one of the offered subprotocols.

        *subprotocol* must be one of :attr:`subprotocols` (ValueError
        otherwise), or ``None`` to choose none (or ``django-asgi-ws.plain``,
        if the client offered it: see :doc:`wire-protocol`). *headers*, a mapping or
        ``(name, value)`` pairs, are added to the handshake response.
        RuntimeError if the handshake was already accepted or refused.
        """
        if self.state is not CONNECTING:
            raise RuntimeError(
                f"Cannot accept: expected state {WebSocketState.CONNECTING.name}, "
                f"but the connection is {self.state.name}."
            )
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(
                f"Cannot accept subprotocol {subprotocol!r}: the client offered "
                f"{self.subprotocols!r}."
            )
        if subprotocol is None:
            subprotocol = self._implied_subprotocol
            if subprotocol is None and PLAIN in self.subprotocols:
                subprotocol = PLAIN  # what the client offered for views choosing none
        elif subprotocol != self._implied_subprotocol:
            self._implied_subprotocol = None  # the view chose another: the hook must know
        hook, self._accept_hook = self._accept_hook, None
        if hook is not None:
            await hook()  # if it raises, the handshake is refused, not accepted
        self._stop_handshake_deadline()
        message: dict[str, Any] = {"type": "websocket.accept", "subprotocol": subprotocol}
        encoded = encode_headers(headers) if headers else []
        request = self._request
        if request is not None and session_was_touched(request):
            encoded += await sync_to_async(save_session_for_handshake)(request)
        if encoded:
            message["headers"] = encoded
        await self._send(message)
        self.state = CONNECTED
        self.accepted = True
        self.accepted_subprotocol = subprotocol

    async def refuse(self, status: HTTPStatus = HTTPStatus.FORBIDDEN) -> None:
        """Refuse the handshake with an HTTP *status* (403 where the server cannot say).

        RuntimeError once the handshake was accepted; nothing once refused.
        """
        if self.state is not CONNECTING:
            if self.state is CONNECTED:
                raise RuntimeError("Cannot refuse: the handshake was accepted; close() instead.")
            return
        self._stop_handshake_deadline()
        self.state = DISCONNECTED
        await send_refusal(self.scope, self._send, status)

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Close the connection, or refuse the handshake if not yet accepted.

        Closing a connection that is already closed does nothing. *code* must
        be one an endpoint may send (1000-1003, 1007-1014 or 3000-4999) and
        *reason* at most 123 bytes of UTF-8; ValueError otherwise.

        A client that offered the client protocol learns of a refusal by its
        close code: the handshake is accepted and closed at once with *code*
        (4403 for 1000, a refusal that gives none).
        """
        validate_close(code, reason)
        if self.state is DISCONNECTED:
            return
        self._stop_handshake_deadline()
        if self.state is CONNECTING and offers_protocol(self.scope):
            if code == CloseCode.NORMAL_CLOSURE:
                code = refusal_code(HTTPStatus.FORBIDDEN)
            with contextlib.suppress(OSError):
                await self._send({"type": "websocket.accept", "subprotocol": PROTOCOL})
        self.state = DISCONNECTED
        self.close_code, self.close_reason = code, reason
        with contextlib.suppress(OSError):  # the client left first; closed is closed
            await self._send({"type": "websocket.close", "code": int(code), "reason": reason})

    @property
    def handshake_timed_out(self) -> bool:
        """Whether WEBSOCKET_HANDSHAKE_TIMEOUT ran out before the view accepted or refused."""
        return self._handshake_deadline is not None and self._handshake_deadline.expired

    def _stop_handshake_deadline(self) -> None:
        if self._handshake_deadline is not None:
            self._handshake_deadline.stop()

    # Sending -----------------------------------------------------------------

    async def send_text(self, data: str) -> None:
        """Send *data* as a text message."""
        if self.state is not CONNECTED:
            raise RuntimeError(not_connected("send", self.state))
        write = self._write_frame
        if write is not None and type(data) is str and write(frames.text_frame(data)):
            return
        try:
            await self._send({"type": "websocket.send", "text": data})
        except OSError as exc:
            raise self._lost() from exc

    async def send_bytes(self, data: bytes) -> None:
        """Send *data* as a binary message."""
        if self.state is not CONNECTED:
            raise RuntimeError(not_connected("send", self.state))
        try:
            await self._send({"type": "websocket.send", "bytes": data})
        except OSError as exc:
            raise self._lost() from exc

    async def send_json(self, data: Any, mode: JSONMode = "text") -> None:
        """Send *data* as JSON (dates, decimals, UUIDs and lazy strings included).

        Encoded with Django's ``DjangoJSONEncoder``, as a text message, or as a
        binary message with ``mode="binary"``.
        """
        text = json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"))
        if mode == "text":
            await self.send_text(text)
        elif mode == "binary":
            await self.send_bytes(text.encode())
        else:
            raise ValueError(f'mode must be "text" or "binary", not {mode!r}.')

    def _lost(self) -> WebSocketDisconnect:
        """A send failed: ASGI servers raise OSError when the client has gone."""
        self._disconnected(CloseCode.ABNORMAL_CLOSURE, "")
        return WebSocketDisconnect(CloseCode.ABNORMAL_CLOSURE)

    # Receiving ---------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next message, as ``str`` or ``bytes`` as the client sent it.

        Raises WebSocketDisconnect once the connection is over.
        """
        data: str | bytes = await self._next_message(None, False, iterating=False)
        return data

    async def receive_text(self) -> str:
        """The next message, which must be text (a binary one closes with 1003)."""
        text: str = await self._next_message(str, False, iterating=False)
        return text

    async def receive_bytes(self) -> bytes:
        """The next message, which must be binary (a text one closes with 1003)."""
        data: bytes = await self._next_message(bytes, False, iterating=False)
        return data

    async def receive_json(self, mode: JSONMode = "text") -> Any:
        """The next message decoded from JSON; malformed JSON closes with 1007.

        A text message, or a binary one with ``mode="binary"``; the other kind
        closes with 1003.
        """
        return await self._next_message(json_kind(mode), True, iterating=False)

    def iter_text(self) -> AsyncIterator[str]:
        """``async for text in websocket.iter_text()``: each text message, until
        the client leaves. A binary message closes the connection with 1003."""
        return Messages(self._next_message, str, decode=False)

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """Each binary message until the client leaves; a text message closes with 1003."""
        return Messages(self._next_message, bytes, decode=False)

    def iter_json(self, mode: JSONMode = "text") -> AsyncIterator[Any]:
        """Each message decoded from JSON until the client leaves; malformed JSON
        closes with 1007, a message of the other kind than *mode* with 1003."""
        return Messages(self._next_message, json_kind(mode), decode=True)

    async def _next_message(
        self, kind: type[str] | type[bytes] | None, decode: bool, *, iterating: bool
    ) -> Any:
        """The next message, for every receive method and iterator.

        A message that is not of *kind* closes with 1003; *decode* parses JSON.
        Once the connection is over it raises WebSocketDisconnect, or
        StopAsyncIteration when *iterating*: the iterators await it directly,
        since a coroutine between them, or an exception raised only to be
        caught, would cost more than the rest of a message.
        """
        if self.state is not CONNECTED:
            if self.state is DISCONNECTED:
                raise self._ended(iterating)
            raise RuntimeError(not_connected("receive", self.state))
        if open_connections and connection_has_thread():
            message = await receive_between_requests(self._receive)
        else:
            message = await self._receive()
        if message["type"] == "websocket.receive":
            data = message.get("text")
            if data is None:
                data = bytes(message.get("bytes") or b"")
            limit = self.max_message_size
            if limit is not None and len(data) * 4 > limit and is_too_big(data, limit):
                raise WebSocketException(
                    CloseCode.MESSAGE_TOO_BIG, f"Messages are limited to {limit} bytes."
                )
            if self.rate_limiter is not None and not self.rate_limiter.allow():
                raise WebSocketException(CloseCode.POLICY_VIOLATION, "Message rate limit exceeded.")
            if kind is not None and not isinstance(data, kind):
                raise unexpected_kind(kind)
            return decode_json(data) if decode else data
        if message["type"] == "websocket.disconnect":
            self._disconnected(
                message.get("code", CloseCode.NORMAL_CLOSURE), message.get("reason") or ""
            )
            raise self._ended(iterating)
        raise RuntimeError(
            'Expected ASGI message "websocket.receive" or "websocket.disconnect", '
            f"but got {message['type']!r}."
        )

    def _ended(self, iterating: bool) -> Exception:
        if iterating:
            return StopAsyncIteration()
        return WebSocketDisconnect(self.close_code or CloseCode.NORMAL_CLOSURE, self.close_reason)

    def _disconnected(self, code: int, reason: str) -> None:
        self.state = DISCONNECTED
        self.close_code, self.close_reason = code, reason

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} {self.state.name}>"
