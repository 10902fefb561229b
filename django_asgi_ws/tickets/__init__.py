"""Tickets: a websocket login for clients that send no session cookie.

A client that is logged in over HTTP (a page with its session cookie, an API
call with a token) asks :class:`TicketView` for a ticket, then presents it
when it opens a websocket: as the offered subprotocol
``django-asgi-ws.ticket.<ticket>`` or as the ``ws_ticket`` query parameter.
The ticket is verified at the handshake, before the view runs, and its user
becomes the connection's user (``websocket.user``, ``await websocket.auser()``
and the access decorators). Issuing one writes nothing to the database.
"""

from __future__ import annotations

from django_asgi_ws.tickets.handshake import QUERY_PARAMETER, SUBPROTOCOL_PREFIX
from django_asgi_ws.tickets.signing import InvalidTicket, Reason, issue_ticket, verify_ticket
from django_asgi_ws.tickets.views import TicketView

__all__ = [
    "QUERY_PARAMETER",
    "SUBPROTOCOL_PREFIX",
    "InvalidTicket",
    "Reason",
    "TicketView",
    "issue_ticket",
    "verify_ticket",
]
