"""Class-based websocket views."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import update_wrapper
from typing import Any, ClassVar, Literal, get_args

from asgiref.sync import markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured

from django_asgi_ws.status import CloseCode
from django_asgi_ws.websocket import (
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    WebSocketState,
)

EncodingName = Literal["text", "bytes", "json"]
ENCODINGS: tuple[EncodingName | None, ...] = (None, *get_args(EncodingName))


class WebSocketView:
    """A websocket endpoint as a class: one instance per connection.

    Set ``encoding`` to have every message checked and decoded before
    ``on_receive`` sees it: ``"text"`` and ``"bytes"`` refuse the other frame
    type with close code 1003, ``"json"`` takes text frames of JSON and closes
    with 1007 on malformed JSON. ``None`` passes ``str`` or ``bytes`` through.
    """

    encoding: ClassVar[EncodingName | None] = None

    websocket: WebSocket
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def __init__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            setattr(self, key, value)

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., Awaitable[None]]:
        """The async view function to put in WEBSOCKET_URLCONF."""
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
            await self.dispatch(websocket)

        view.view_class = cls  # type: ignore[attr-defined]
        view.view_initkwargs = initkwargs  # type: ignore[attr-defined]
        update_wrapper(view, cls, updated=())
        return markcoroutinefunction(view)

    async def dispatch(self, websocket: WebSocket) -> None:
        """Connect, hand each message to ``on_receive``, then ``on_disconnect``.

        ``on_disconnect`` runs once for every connection that was accepted,
        however it ended; a refused handshake never reaches it.
        """
        close_code: int = CloseCode.INTERNAL_ERROR
        try:
            await self.on_connect(websocket)
            if websocket.state is WebSocketState.CONNECTING:
                return  # neither accepted nor refused: the handler refuses it
            while True:
                data = await self.receive_message(websocket)
                await self.on_receive(websocket, data)
        except WebSocketDisconnect as exc:
            close_code = exc.code
        except WebSocketException as exc:
            close_code = exc.code
            raise
        finally:
            if websocket.accepted:
                await self.on_disconnect(websocket, close_code)

    async def receive_message(self, websocket: WebSocket) -> Any:
        """The next message, checked and decoded as ``encoding`` says."""
        if self.encoding == "text":
            return await websocket.receive_text()
        if self.encoding == "bytes":
            return await websocket.receive_bytes()
        if self.encoding == "json":
            return await websocket.receive_json()
        return await websocket.receive()

    async def on_connect(self, websocket: WebSocket) -> None:
        """Called once the handshake arrives; accepts it unless overridden."""
        await websocket.accept()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        """Called for every message, decoded according to ``encoding``."""

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        """Called once the connection is over, whoever closed it and why."""
