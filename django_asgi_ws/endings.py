"""How an exception from a view ends its connection, the same way on every server.

One pure function, :func:`ending_for`, used by the handler (which closes or
refuses accordingly, and logs) and by ``WebSocketView`` (which tells
``on_disconnect`` the code the client gets).
"""

from __future__ import annotations

import asyncio
import enum
from http import HTTPStatus
from typing import NamedTuple

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404

from django_asgi_ws.broadcast.errors import SubscriberTooSlow
from django_asgi_ws.exceptions import WebSocketDisconnect, WebSocketException
from django_asgi_ws.status import CloseCode


class Report(enum.Enum):
    """What the handler logs for an ending."""

    NOTHING = "nothing"  # the client left, or the view ended it on purpose
    DEBUG = "debug"  # an expected refusal: permission denied, not found
    SECURITY = "security"  # hostile input, on django.security.<exception>
    TIMEOUT = "timeout"  # the handshake timeout ran out, a warning
    ERROR = "error"  # a bug: the traceback, for AdminEmailHandler too


class Ending(NamedTuple):
    """The close code and reason for an accepted connection, the status for a pending one."""

    code: int
    reason: str
    refusal: HTTPStatus
    report: Report


LEFT = Ending(CloseCode.NORMAL_CLOSURE, "", HTTPStatus.FORBIDDEN, Report.NOTHING)
HANDSHAKE_TIMEOUT = Ending(
    CloseCode.TRY_AGAIN_LATER, "", HTTPStatus.SERVICE_UNAVAILABLE, Report.TIMEOUT
)
_PERMISSION_DENIED = Ending(CloseCode.POLICY_VIOLATION, "", HTTPStatus.FORBIDDEN, Report.DEBUG)
_NOT_FOUND = Ending(CloseCode.POLICY_VIOLATION, "", HTTPStatus.NOT_FOUND, Report.DEBUG)
_SUSPICIOUS = Ending(CloseCode.POLICY_VIOLATION, "", HTTPStatus.BAD_REQUEST, Report.SECURITY)
_BAD_REQUEST = Ending(CloseCode.POLICY_VIOLATION, "", HTTPStatus.BAD_REQUEST, Report.NOTHING)
_ERROR = Ending(CloseCode.INTERNAL_ERROR, "", HTTPStatus.INTERNAL_SERVER_ERROR, Report.ERROR)


def ending_for(exc: BaseException, *, handshake_timed_out: bool = False) -> Ending | None:
    """How a view that raised *exc* ends its connection.

    None: the exception is not the view's to answer (a cancellation from
    outside, an exit), and goes on up.
    """
    if isinstance(exc, WebSocketDisconnect):
        # The client left (raised by receive or send), or the view raised it itself.
        return LEFT
    if isinstance(exc, WebSocketException):
        return Ending(exc.code, exc.reason, HTTPStatus.FORBIDDEN, Report.DEBUG)
    if isinstance(exc, SubscriberTooSlow):
        # Its queue overflowed with OVERFLOW = "close": 1013, come back and start over.
        return Ending(exc.code, exc.reason, HTTPStatus.FORBIDDEN, Report.DEBUG)
    if isinstance(exc, PermissionDenied):
        return _PERMISSION_DENIED
    if isinstance(exc, Http404):
        return _NOT_FOUND
    if isinstance(exc, SuspiciousOperation):
        # Hostile or broken input (too many query fields, a bad Host...), as Django
        # answers it for HTTP: 400, logged on django.security.<name>, no traceback.
        return _SUSPICIOUS
    if isinstance(exc, BadRequest):
        return _BAD_REQUEST
    if isinstance(exc, asyncio.CancelledError):
        return HANDSHAKE_TIMEOUT if handshake_timed_out else None
    if isinstance(exc, Exception):
        return _ERROR
    return None
