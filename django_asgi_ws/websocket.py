"""The object a websocket view talks to: one connection, one ASGI scope."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from asgiref.sync import sync_to_async
from django.core.serializers.json import DjangoJSONEncoder
from django.http import QueryDict
from django.http.cookie import parse_cookie
from django.utils.datastructures import CaseInsensitiveMapping

from django_asgi_ws.db import aclose_old_connections, connection_has_thread, thread_executors
from django_asgi_ws.limits import RateLimiter
from django_asgi_ws.sessions import (
    build_request,
    load_session,
    load_user,
    save_session_for_handshake,
    session_was_touched,
)
from django_asgi_ws.status import CloseCode, is_sendable

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase
    from django.http import HttpRequest
    from django.urls import ResolverMatch

    from django_asgi_ws.asgi_types import Receive, Scope, Send
    from django_asgi_ws.deadlines import Deadlines

JSONMode = Literal["text", "binary"]

# RFC 6455 5.5: a control frame carries at most 125 bytes, two of them the code.
MAX_CLOSE_REASON_BYTES = 123


class WebSocketState(enum.Enum):
    """Where a connection stands, from the application's point of view."""

    #: The handshake arrived; it is not yet accepted or refused.
    CONNECTING = "connecting"
    #: Accepted: messages flow both ways.
    CONNECTED = "connected"
    #: Closed by either side, or refused: nothing more flows.
    DISCONNECTED = "disconnected"


# Before Python 3.12, reading a member off an Enum class goes through EnumType's
# __getattr__, four times slower than a global: the per-message paths compare
# states against these.
CONNECTING = WebSocketState.CONNECTING
CONNECTED = WebSocketState.CONNECTED
DISCONNECTED = WebSocketState.DISCONNECTED


class WebSocketDisconnect(Exception):
    """The connection is over: the client left, or the application closed it.

    Raised by the receive methods once the connection is over, whoever closed
    it, and by a send to a client that has gone. A view may let it propagate:
    the connection is over either way.
    """

    def __init__(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        super().__init__(code, reason)
        #: The close code (1006 when the client vanished without a close frame).
        self.code = code
        #: The close reason, often empty.
        self.reason = reason

    def __str__(self) -> str:
        return f"websocket closed with code {self.code}" + (
            f": {self.reason}" if self.reason else ""
        )


class WebSocketException(Exception):
    """Raise from a view to end the connection with *code*.

    Before the handshake is accepted this refuses the connection instead; the
    close code is then not seen by the client (browsers only see a failed
    handshake). *code* and *reason* are checked as for ``WebSocket.close()``.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        _validate_close(code, reason)
        super().__init__(code, reason)
        #: The close code to send.
        self.code = code
        #: The close reason to send.
        self.reason = reason


def _validate_close(code: int, reason: str) -> None:
    if not is_sendable(code):
        raise ValueError(
            f"{code} is not a close code an application may send; "
            "use 1000-1003, 1007-1014 or 3000-4999."
        )
    if len(reason.encode()) > MAX_CLOSE_REASON_BYTES:
        raise ValueError(f"A close reason is at most {MAX_CLOSE_REASON_BYTES} bytes of UTF-8.")


class WebSocket:
    """One websocket connection: request-like attributes plus send and receive.

    Views never build one; the handler does, after the ASGI ``websocket.connect``
    message arrived and the path resolved. A view may set attributes of its own
    on it.
    """

    # Slots keep an idle connection small; __dict__ stays for the cached
    # properties and for what views attach to the connection themselves.
    __slots__ = (
        "__dict__",
        "_before_accept",
        "_receive",
        "_request",
        "_send",
        "accepted",
        "accepted_subprotocol",
        "close_code",
        "close_reason",
        "handshake_task",
        "handshake_timed_out",
        "handshake_timer",
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
        max_message_size: int | None = None,
        rate_limiter: RateLimiter | None = None,
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
        self.max_message_size = max_message_size
        self.rate_limiter = rate_limiter
        self._request: HttpRequest | None = None
        # Set by WebSocketView: joins its groups before the client hears of the accept.
        self._before_accept: Callable[[], Awaitable[None]] | None = None
        # Set by the handler: refuses the handshake if the view takes too long.
        self.handshake_timer: Deadlines[Any] | None = None
        self.handshake_task: asyncio.Task[Any] | None = None
        self.handshake_timed_out = False

    # Request-like attributes -------------------------------------------------

    @property
    def path(self) -> str:
        """The full request path, as ``HttpRequest.path``."""
        return str(self.scope["path"])

    @property
    def client(self) -> tuple[str, int] | None:
        """The client's ``(host, port)``, or ``None`` if the server did not say."""
        client = self.scope.get("client")
        return (client[0], client[1]) if client else None

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        return list(self.scope.get("subprotocols") or ())

    @property
    def url_args(self) -> tuple[Any, ...]:
        """The positional arguments captured from the URL."""
        return tuple(self.resolver_match.args) if self.resolver_match else ()

    @property
    def url_kwargs(self) -> dict[str, Any]:
        """The keyword arguments captured from the URL."""
        return dict(self.resolver_match.kwargs) if self.resolver_match else {}

    @cached_property
    def headers(self) -> CaseInsensitiveMapping[str]:
        """Handshake headers, names case-insensitive, repeated ones joined."""
        joined: dict[str, str] = {}
        for raw_name, raw_value in self.scope.get("headers") or ():
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            if name in joined:
                separator = "; " if name == "cookie" else ", "
                joined[name] = joined[name] + separator + value
            else:
                joined[name] = value
        return CaseInsensitiveMapping(joined)

    @cached_property
    def GET(self) -> QueryDict:
        """The query string, as a ``QueryDict``."""
        query_string = self.scope.get("query_string", b"")
        if isinstance(query_string, bytes):
            query_string = query_string.decode("utf-8", errors="replace")
        return QueryDict(query_string)

    @cached_property
    def COOKIES(self) -> dict[str, str]:
        """The cookies sent with the handshake."""
        return parse_cookie(self.headers.get("cookie", ""))

    # Identity ----------------------------------------------------------------

    @property
    def request(self) -> HttpRequest:
        """The handshake as a Django ``HttpRequest`` (a GET), built on first use.

        ``get_host()``, ``is_secure()``, ``META``, ``headers`` and the rest work
        as in an HTTP view.
        """
        if self._request is None:
            self._request = build_request(self.scope, self.COOKIES)
        return self._request

    @property
    def session(self) -> SessionBase:
        """The session named by the session cookie, from SESSION_ENGINE's store.

        Changes made before ``accept()`` are saved and the cookie sent with
        the accept; changes made later are saved when the connection ends.
        Its dict methods query the store: call them from sync code (or through
        ``sync_to_async``), as in an async Django view.
        """
        return load_session(self.request)

    @property
    def user(self) -> Any:
        """The user, lazily, as ``request.user`` is (sync code only: use ``auser()``)."""
        load_user(self.request)
        return self.request.user

    async def auser(self) -> Any:
        """The user of the session: a ``User`` or an ``AnonymousUser``."""
        load_user(self.request)
        return await self.request.auser()

    # Handshake ---------------------------------------------------------------

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]] | None = None,
    ) -> None:
        """Complete the handshake, optionally choosing one of the offered subprotocols.

        *subprotocol* must be one of :attr:`subprotocols` (ValueError
        otherwise), or ``None`` to choose none. *headers*, a mapping or
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
        before_accept = self._before_accept
        if before_accept is not None:
            self._before_accept = None
            await before_accept()  # if it raises, the handshake is refused, not accepted
        self._cancel_handshake_timer()
        message: dict[str, Any] = {"type": "websocket.accept", "subprotocol": subprotocol}
        encoded = _encode_headers(headers) if headers else []
        if self._request is not None and session_was_touched(self._request):
            assert self._request is not None
            encoded += await sync_to_async(save_session_for_handshake)(self._request)
        if encoded:
            message["headers"] = encoded
        await self._send(message)
        self.state = CONNECTED
        self.accepted = True
        self.accepted_subprotocol = subprotocol

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Close the connection, or refuse the handshake if not yet accepted.

        Closing a connection that is already closed does nothing. *code* must
        be one an endpoint may send (1000-1003, 1007-1014 or 3000-4999) and
        *reason* at most 123 bytes of UTF-8; ValueError otherwise.
        """
        _validate_close(code, reason)
        if self.state is DISCONNECTED:
            return
        self._cancel_handshake_timer()
        self.state = DISCONNECTED
        self.close_code, self.close_reason = code, reason
        with contextlib.suppress(OSError):  # the client left first; closed is closed
            await self._send({"type": "websocket.close", "code": int(code), "reason": reason})

    # Sending -----------------------------------------------------------------

    async def send_text(self, data: str) -> None:
        """Send *data* as a text message."""
        if self.state is not CONNECTED:
            raise RuntimeError(_not_connected("send", self.state))
        try:
            await self._send({"type": "websocket.send", "text": data})
        except OSError as exc:
            raise self._lost() from exc

    async def send_bytes(self, data: bytes) -> None:
        """Send *data* as a binary message."""
        if self.state is not CONNECTED:
            raise RuntimeError(_not_connected("send", self.state))
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
        self._mark_disconnected(CloseCode.ABNORMAL_CLOSURE, "")
        return WebSocketDisconnect(CloseCode.ABNORMAL_CLOSURE)

    # Receiving ---------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next message, as ``str`` or ``bytes`` as the client sent it.

        Raises WebSocketDisconnect once the connection is over.
        """
        data: str | bytes = await self._next_message(None, False, iterating=False)
        return data

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
            raise RuntimeError(_not_connected("receive", self.state))
        if thread_executors and connection_has_thread():
            # The work for the previous message is done: like request_finished, let
            # go of database connections before a wait that may last for hours...
            kept_connection = await aclose_old_connections()
            message = await self._receive()
            if kept_connection:
                # ...and like request_started, drop one that aged or broke meanwhile.
                await aclose_old_connections()
        else:
            message = await self._receive()
        if message["type"] == "websocket.receive":
            data = message.get("text")
            if data is None:
                data = bytes(message.get("bytes") or b"")
            limit = self.max_message_size
            if limit is not None and len(data) * 4 > limit and _too_big(data, limit):
                raise WebSocketException(
                    CloseCode.MESSAGE_TOO_BIG, f"Messages are limited to {limit} bytes."
                )
            if self.rate_limiter is not None and not self.rate_limiter.allow():
                raise WebSocketException(CloseCode.POLICY_VIOLATION, "Message rate limit exceeded.")
            if kind is not None and not isinstance(data, kind):
                raise WebSocketException(CloseCode.UNSUPPORTED_DATA, _unexpected(kind))
            return decode_json(data) if decode else data
        if message["type"] == "websocket.disconnect":
            self._mark_disconnected(
                message.get("code", CloseCode.NORMAL_CLOSURE), message.get("reason") or ""
            )
            raise self._ended(iterating)
        raise RuntimeError(
            'Expected ASGI message "websocket.receive" or "websocket.disconnect", '
            f"but got {message['type']!r}."
        )

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
        return await self._next_message(_json_kind(mode), True, iterating=False)

    def iter_text(self) -> AsyncIterator[str]:
        """``async for text in websocket.iter_text()``: each text message, until
        the client leaves. A binary message closes the connection with 1003."""
        return Messages(self, str, decode=False)

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """Each binary message until the client leaves; a text message closes with 1003."""
        return Messages(self, bytes, decode=False)

    def iter_json(self, mode: JSONMode = "text") -> AsyncIterator[Any]:
        """Each message decoded from JSON until the client leaves; malformed JSON
        closes with 1007, a message of the other kind than *mode* with 1003."""
        return Messages(self, _json_kind(mode), decode=True)

    def _cancel_handshake_timer(self) -> None:
        if self.handshake_timer is not None:
            self.handshake_timer.discard(self)
            self.handshake_timer = None
            self.handshake_task = None

    def _ended(self, iterating: bool) -> Exception:
        if iterating:
            return StopAsyncIteration()
        return WebSocketDisconnect(self.close_code or CloseCode.NORMAL_CLOSURE, self.close_reason)

    def _mark_disconnected(self, code: int, reason: str) -> None:
        self.state = DISCONNECTED
        self.close_code, self.close_reason = code, reason

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r} {self.state.name}>"


class Messages:
    """The iterator of ``iter_text``, ``iter_bytes`` and ``iter_json``.

    A class rather than an async generator: the event loop keeps every async
    generator in a WeakSet from its first step to its end, and hands each of its
    items back through a StopIteration, which costs every connection and every
    message more than this iterator's whole step.
    """

    __slots__ = ("_decode", "_kind", "_websocket")

    def __init__(
        self, websocket: WebSocket, kind: type[str] | type[bytes], *, decode: bool
    ) -> None:
        self._websocket = websocket
        self._kind = kind
        self._decode = decode

    def __aiter__(self) -> Messages:
        return self

    def __anext__(self) -> Awaitable[Any]:
        # Not a coroutine of its own: the receiving coroutine, awaited by
        # ``async for`` directly, is one level less per message.
        return self._websocket._next_message(self._kind, self._decode, iterating=True)


def _too_big(data: str | bytes, limit: int) -> bool:
    """Whether *data* is over *limit* bytes, without encoding text that is clearly under."""
    if isinstance(data, bytes) or len(data) > limit:
        return len(data) > limit
    # A character is 1 to 4 bytes of UTF-8.
    return len(data) * 4 > limit and len(data.encode("utf-8", "surrogatepass")) > limit


def decode_json(data: str | bytes) -> Any:
    """Parse a JSON message, turning malformed input into close code 1007."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # also UnicodeDecodeError, and nesting
        raise WebSocketException(CloseCode.INVALID_PAYLOAD, "Malformed JSON.") from exc


def _json_kind(mode: str) -> type[str] | type[bytes]:
    """What JSON arrives in: text messages (the usual) or binary ones."""
    if mode == "text":
        return str
    if mode == "binary":
        return bytes
    raise ValueError(f'mode must be "text" or "binary", not {mode!r}.')


def _unexpected(kind: type[str] | type[bytes]) -> str:
    if kind is str:
        return "Expected a text message, got a binary one."
    return "Expected a binary message, got a text one."


def _not_connected(action: str, state: WebSocketState) -> str:
    if state is CONNECTING:
        return (
            f"Cannot {action}: expected state CONNECTED, but the connection is "
            "CONNECTING; call accept() first."
        )
    return f"Cannot {action}: expected state CONNECTED, but the connection is {state.name}."


def _encode_headers(
    headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]],
) -> list[tuple[bytes, bytes]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [
        (
            name.lower().encode("latin-1") if isinstance(name, str) else name.lower(),
            value.encode("latin-1") if isinstance(value, str) else value,
        )
        for name, value in items
    ]
