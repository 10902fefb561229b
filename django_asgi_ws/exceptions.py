"""How a connection ends, as exceptions: the client left, or a view ends it with a code."""

from __future__ import annotations

from django_asgi_ws.status import CloseCode, is_sendable

# RFC 6455 5.5: a control frame carries at most 125 bytes, two of them the code.
MAX_CLOSE_REASON_BYTES = 123


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
        validate_close(code, reason)
        super().__init__(code, reason)
        #: The close code to send.
        self.code = code
        #: The close reason to send.
        self.reason = reason


class RequestError(Exception):
    """Raise from ``WebSocketView.on_request`` to answer the request with an error.

    The client receives ``{"code": code, "message": message}`` as the
    request's error (see the client protocol); the connection stays open.
    """

    def __init__(self, code: str, message: str = "") -> None:
        if not isinstance(code, str) or not code:
            raise ValueError(f"A request error's code is a non-empty str, not {code!r}.")
        super().__init__(code, message)
        #: A short machine-readable code, such as ``"not_found"``.
        self.code = code
        #: A sentence for people; it reaches the client as is.
        self.message = message


def validate_close(code: int, reason: str) -> None:
    """ValueError unless an endpoint may send *code* with *reason* (RFC 6455, 7.4)."""
    if not is_sendable(code):
        raise ValueError(
            f"{code} is not a close code an application may send; "
            "use 1000-1003, 1007-1014 or 3000-4999."
        )
    if len(reason.encode()) > MAX_CLOSE_REASON_BYTES:
        raise ValueError(f"A close reason is at most {MAX_CLOSE_REASON_BYTES} bytes of UTF-8.")
