"""Class-based websocket views."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import update_wrapper
from typing import Any, ClassVar, Literal, get_args

from django.core.exceptions import ImproperlyConfigured

from django_asgi_ws import client_protocol as protocol
from django_asgi_ws import forwarding
from django_asgi_ws.broadcast.errors import SubscriberTooSlow
from django_asgi_ws.broadcast.listen import ClientAndGroups
from django_asgi_ws.broadcast.subscription import Message
from django_asgi_ws.endings import ending_for
from django_asgi_ws.exceptions import RequestError, WebSocketException
from django_asgi_ws.status import CloseCode
from django_asgi_ws.view_groups import GroupsMixin
from django_asgi_ws.websocket import WebSocket, WebSocketDisconnect, WebSocketState

__all__ = ["WebSocketView"]

EncodingName = Literal["text", "bytes", "json"]
ENCODINGS: tuple[EncodingName | None, ...] = (None, *get_args(EncodingName))


logger = logging.getLogger("django_asgi_ws")


class WebSocketView(GroupsMixin):
    """A websocket endpoint as a class: one instance per connection.

    ``as_view()`` gives the view function to route to. For each connection,
    :meth:`on_connect` decides on the handshake, every message then goes to
    :meth:`on_receive` (and every message of a joined broadcast group to
    :meth:`on_group_message`), and :meth:`on_disconnect` runs once at the end.
    """

    #: How messages are checked and decoded before :meth:`on_receive` sees
    #: them. ``None``: ``str`` or ``bytes``, as the client sent them.
    #: ``"text"``: text messages only, as ``str``. ``"bytes"``: binary messages
    #: only, as ``bytes``. ``"json"``: text messages decoded from JSON. A message
    #: of the other type closes the connection with 1003, malformed JSON with 1007.
    encoding: ClassVar[EncodingName | None] = None
    #: Whether the view speaks the client protocol (:doc:`wire-protocol`) to
    #: a client that offers it, as the JavaScript client does: everything sent
    #: is then a JSON envelope, requests reach :meth:`on_request`, and pings
    #: are answered. ``encoding`` then decodes nothing: :meth:`on_receive`
    #: gets the data of each message envelope. A client that does not offer
    #: it gets the plain messages of a view without it.
    client_protocol: ClassVar[bool] = False

    #: The connection, set before :meth:`on_connect` runs.
    websocket: WebSocket
    #: The positional arguments captured from the URL.
    args: tuple[Any, ...]
    #: The keyword arguments captured from the URL.
    kwargs: dict[str, Any]

    def __init__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            setattr(self, key, value)

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., Awaitable[None]]:
        """The async view function to put in ``WEBSOCKET_URLCONF``.

        Each keyword argument sets an attribute of the instance made for each
        connection; only attributes the class already has can be set
        (TypeError otherwise). An invalid ``encoding`` raises
        ImproperlyConfigured.
        """
        encoding = initkwargs.get("encoding", cls.encoding)
        if encoding not in ENCODINGS:
            raise ImproperlyConfigured(
                f"{cls.__name__}.encoding must be None, 'text', 'bytes' or 'json', "
                f"not {encoding!r}."
            )
        for key in initkwargs:
            if not hasattr(cls, key):
                raise TypeError(
                    f"{cls.__name__}.as_view() received the invalid keyword {key!r}: "
                    "only attributes the class already has can be set."
                )

        async def view(websocket: WebSocket, *args: Any, **kwargs: Any) -> None:
            self = cls(**initkwargs)
            self.websocket, self.args, self.kwargs = websocket, args, kwargs
            if self.client_protocol and protocol.offers_protocol(websocket.scope):
                self._protocol_offered, self._welcome = True, protocol.Welcome()
                websocket._implied_subprotocol = protocol.PROTOCOL
            await self.dispatch(websocket)

        view.view_class = cls  # type: ignore[attr-defined]
        view.view_initkwargs = initkwargs  # type: ignore[attr-defined]
        update_wrapper(view, cls, updated=())
        return view

    async def dispatch(self, websocket: WebSocket) -> None:
        """Connect, hand each message to ``on_receive``, then ``on_disconnect``.

        The groups of ``get_groups()`` are joined by ``websocket.accept()``,
        before the accept is sent. ``on_disconnect`` runs once for every
        connection that was accepted, however it ended; a refused handshake
        never reaches it.
        """
        close_code: int = CloseCode.NORMAL_CLOSURE
        async with contextlib.AsyncExitStack() as cleanup:
            cleanup.push_async_callback(self._leave_groups)
            # Joined before the client sees the accept: a broker confirms each
            # subscription a moment after it is asked, and whatever the client (or
            # a test) publishes once connected must not fall into that gap.
            websocket.before_accept(self._join_groups)
            try:
                await self.on_connect(websocket)
                if websocket.state is WebSocketState.CONNECTING:
                    return  # neither accepted nor refused: the handler refuses it
                await self._receive_loop(websocket)
            except WebSocketDisconnect as exc:
                close_code = exc.code
            except BaseException as exc:
                close_code = _code_the_client_gets(websocket, exc)
                raise
            finally:
                websocket.before_accept(None)  # never accepted: no cycle left behind
                if websocket.accepted:
                    await self.on_disconnect(websocket, close_code)

    async def _receive_loop(self, websocket: WebSocket) -> None:
        await self._send_welcome()
        # receive() applies CONN_MAX_AGE and CONN_HEALTH_CHECKS around the wait.
        while self.subscription is None:
            data = await self.receive_message(websocket)
            await self._received(websocket, data)
        # In a group: wait for the client and the groups at once.
        events = ClientAndGroups(lambda: self.receive_message(websocket), self.subscription)
        subscription = self.subscription
        direct = None
        if type(self).on_group_message is GroupsMixin.on_group_message:
            direct = self._sender_while_idle(events)
        subscription.set_direct(direct or self._handler_while_idle(events))
        subscription.set_overflow_handler(forwarding.close_when_stalled(websocket))
        try:
            while True:
                event = await events.next()
                if isinstance(event, Message):
                    await self.on_group_message(websocket, event)
                else:
                    await self._received(websocket, event)
        except WebSocketDisconnect:
            if subscription.overflowed:  # closed with 1013 while a send waited
                raise SubscriberTooSlow(subscription.queue_size) from None
            raise
        finally:
            subscription.set_direct(None)
            subscription.set_overflow_handler(None)
            await events.aclose()

    async def _received(self, websocket: WebSocket, data: Any) -> None:
        if not self.speaks_protocol:
            await self.on_receive(websocket, data)
            return
        frame = protocol.ClientFrame(data)
        if frame.type == "message":
            await self.on_receive(websocket, frame.data)
        elif frame.type == "request":
            assert frame.id is not None
            await self.send_frame(await self._answer(websocket, frame.id, frame.data))
        else:
            await self.send_frame(protocol.PONG)

    async def _answer(self, websocket: WebSocket, request_id: str | int, data: Any) -> str:
        try:
            reply = await self.on_request(websocket, data)
        except RequestError as exc:
            return protocol.error_frame(request_id, exc.code, exc.message)
        except (WebSocketDisconnect, WebSocketException):
            raise
        except Exception:
            logger.exception("%s.on_request raised", type(self).__qualname__)
            return protocol.error_frame(request_id, "internal", "The request failed.")
        return protocol.reply_frame(request_id, reply)

    # The client protocol ----------------------------------------------------------

    _protocol_offered = False

    @property
    def speaks_protocol(self) -> bool:
        """Whether this connection speaks the client protocol (see :attr:`client_protocol`).

        True when the view opts in and the client offered the protocol, unless
        ``on_connect`` accepted with another subprotocol.
        """
        websocket = self.websocket
        if websocket.accepted:
            return self._protocol_offered and websocket.accepted_subprotocol == protocol.PROTOCOL
        return websocket._implied_subprotocol == protocol.PROTOCOL

    async def send(self, data: Any) -> None:
        """Send *data* to the client: bytes as a binary message, anything else as JSON.

        To a client that speaks the client protocol, it goes in a ``message``
        envelope (bytes in base64). Send with this rather than with
        ``websocket.send_json()`` in a view with :attr:`client_protocol`.
        """
        if self.speaks_protocol:
            await self.send_frame(protocol.message_frame(data))
        elif isinstance(data, bytes):
            await self.websocket.send_bytes(data)
        else:
            await self.websocket.send_json(data)

    async def send_frame(self, frame: str) -> None:
        """Send a frame of the client protocol (after the welcome, if it has not gone yet)."""
        await self._send_welcome()
        await self.websocket.send_text(frame)

    async def _send_welcome(self) -> None:
        if not self.websocket.accepted:
            return  # the send that follows says why
        welcome, self._welcome = self._welcome, None
        if welcome is not None and self.speaks_protocol:
            await self.websocket.send_text(welcome.frame(self.recovered))

    async def on_request(self, websocket: WebSocket, data: Any) -> Any:
        """Answer a request of the client protocol: what it returns is the reply's data.

        Raise :class:`~django_asgi_ws.exceptions.RequestError` to reply with
        an error; any other exception is logged and replied as ``"internal"``.
        Requests are answered one at a time, in order with the messages. By
        default every request is answered ``"not_supported"``.
        """
        raise RequestError("not_supported", f"{type(self).__name__} answers no requests.")

    async def receive_message(self, websocket: WebSocket) -> Any:
        """The next message, checked and decoded as ``encoding`` says."""
        if self.speaks_protocol:
            return await websocket.receive_json()
        if self.encoding == "text":
            return await websocket.receive_text()
        if self.encoding == "bytes":
            return await websocket.receive_bytes()
        if self.encoding == "json":
            return await websocket.receive_json()
        return await websocket.receive()

    async def on_connect(self, websocket: WebSocket) -> None:
        """Called once the handshake arrives; accepts it unless overridden.

        Override it to check the request, choose a subprotocol, or refuse the
        connection: returning without accepting refuses it.
        """
        await websocket.accept()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        """Called for every message, decoded as ``encoding`` says; does nothing by default."""

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        """Called once an accepted connection is over, whoever closed it, with the close code.

        Does nothing by default. Never called for a refused handshake.
        """


def _code_the_client_gets(websocket: WebSocket, exc: BaseException) -> int:
    """The close code the handler sends for *exc*, or the one already exchanged.

    A view cancelled from outside (a server stopping) is reported as 1001,
    unless a close was already sent or received.
    """
    if websocket.close_code is not None:
        return websocket.close_code
    ending = ending_for(exc, handshake_timed_out=websocket.handshake_timed_out)
    return CloseCode.GOING_AWAY if ending is None else ending.code
