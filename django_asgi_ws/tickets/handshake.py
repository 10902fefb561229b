"""A ticket presented at the handshake: verified once, before the view, then out of sight.

The client presents it in one of two places: as an offered subprotocol
``django-asgi-ws.ticket.<ticket>``, which the server never selects, or as the
``ws_ticket`` query parameter. A valid ticket's user becomes ``scope["user"]``
for the connection, and the ticket is removed from the subprotocols, the
``Sec-WebSocket-Protocol`` header and the query string, so that neither the
view nor an error report ever sees it. An invalid one refuses the handshake
with 403 and a warning on ``django_asgi_ws.security`` saying why, never the
ticket itself.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from asgiref.sync import sync_to_async

from django_asgi_ws.tickets.signing import InvalidTicket, Reason, verify_ticket

if TYPE_CHECKING:
    from django_asgi_ws.asgi_types import Scope
    from django_asgi_ws.websocket import WebSocket

#: The prefix of the subprotocol that carries a ticket.
SUBPROTOCOL_PREFIX = "django-asgi-ws.ticket."
#: The query parameter that carries a ticket.
QUERY_PARAMETER = "ws_ticket"
_QUERY_MARK = QUERY_PARAMETER.encode()

logger = logging.getLogger("django_asgi_ws")
security_logger = logging.getLogger("django_asgi_ws.security")


def presents_ticket(scope: Scope) -> bool:
    """Whether the handshake may carry a ticket: a check cheap enough for every handshake."""
    subprotocols = scope.get("subprotocols")
    if subprotocols and any(name.startswith(SUBPROTOCOL_PREFIX) for name in subprotocols):
        return True
    return _QUERY_MARK in _query_bytes(scope)


async def admit_ticket(websocket: WebSocket) -> bool:
    """Verify the ticket the handshake presents; False once the handshake is refused.

    On success the connection's scope names the ticket's user and no longer
    holds the ticket.
    """
    try:
        ticket, scope = take_ticket(websocket.scope)
        if ticket is None:
            return True
        user = await sync_to_async(verify_ticket)(ticket)
    except InvalidTicket as invalid:
        security_logger.warning(
            "Refused websocket %s: %s.",
            websocket.path,
            invalid,
            extra={"ticket_refusal": invalid.reason.name},
        )
        await websocket.refuse(HTTPStatus.FORBIDDEN)
        return False
    except Exception:  # a cache or database down, a DummyCache for a single-use ticket
        logger.exception("Cannot verify the ticket of websocket %s", websocket.path)
        await websocket.refuse(HTTPStatus.INTERNAL_SERVER_ERROR)
        return False
    websocket.scope = {**scope, "user": user}
    return True


def take_ticket(scope: Scope) -> tuple[str | None, Scope]:
    """The ticket the handshake presents (None if it presents none), and the scope without it.

    InvalidTicket (SEVERAL) if it presents more than one.
    """
    offered = list(scope.get("subprotocols") or ())
    in_subprotocols = [name for name in offered if name.startswith(SUBPROTOCOL_PREFIX)]
    query = _query_bytes(scope)
    kept_query = []
    in_query = []
    for pair in query.split(b"&") if query else ():
        name, _, value = pair.partition(b"=")
        if unquote_plus(name.decode("latin-1")) == QUERY_PARAMETER:
            in_query.append(unquote_plus(value.decode("latin-1")))
        else:
            kept_query.append(pair)
    tickets = [name[len(SUBPROTOCOL_PREFIX) :] for name in in_subprotocols] + in_query
    if not tickets:
        return None, scope
    if len(tickets) > 1:
        raise InvalidTicket(Reason.SEVERAL)
    scope = {
        **scope,
        "subprotocols": [name for name in offered if name not in in_subprotocols],
        "query_string": b"&".join(kept_query),
        "headers": _headers_without(scope.get("headers") or (), in_subprotocols),
    }
    return tickets[0], scope


def redact_query(query: str) -> str:
    """*query* with the value of every ``ws_ticket`` parameter replaced, for a log line."""
    if not query:
        return query
    pairs = []
    for pair in query.split("&"):
        name, _, _ = pair.partition("=")
        pairs.append(f"{name}=[redacted]" if unquote_plus(name) == QUERY_PARAMETER else pair)
    return "&".join(pairs)


def _query_bytes(scope: Scope) -> bytes:
    query = scope.get("query_string") or b""
    return query.encode("latin-1") if isinstance(query, str) else bytes(query)


def _headers_without(headers: Any, subprotocols: list[str]) -> list[tuple[bytes, bytes]]:
    """The handshake's headers, the ticket subprotocols taken out of Sec-WebSocket-Protocol."""
    kept = []
    for name, value in headers:
        if name.lower() == b"sec-websocket-protocol":
            items = [item.strip() for item in value.decode("latin-1").split(",")]
            left = [item for item in items if item and item not in subprotocols]
            if not left:
                continue
            value = ", ".join(left).encode("latin-1")
        kept.append((name, value))
    return kept
