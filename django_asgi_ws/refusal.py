"""How a handshake is refused: an HTTP response where the server can send one, else a close."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

from django_asgi_ws.client_protocol import PROTOCOL, offers_protocol, refusal_code
from django_asgi_ws.status import CloseCode

if TYPE_CHECKING:
    from django_asgi_ws.asgi_types import Scope, Send

#: The ASGI extension that lets an application answer a handshake with an HTTP response.
DENIAL_EXTENSION = "websocket.http.response"


async def send_refusal(scope: Scope, send: Send, status: HTTPStatus) -> None:
    """Refuse the handshake with *status* where the server allows it, else with 403.

    Without the denial-response extension the only refusal ASGI has is a
    ``websocket.close`` before the accept, which servers answer with 403.

    A client that offered the client protocol cannot read an HTTP status (a
    browser reports 1006 for any refused handshake): it is accepted, and
    closed at once with 4000 plus the status.
    """
    if offers_protocol(scope):
        await send({"type": "websocket.accept", "subprotocol": PROTOCOL})
        await send({"type": "websocket.close", "code": refusal_code(status), "reason": ""})
    elif DENIAL_EXTENSION in (scope.get("extensions") or {}):
        body = f"{status.value} {status.phrase}\n".encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status.value,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": int(CloseCode.NORMAL_CLOSURE)})
