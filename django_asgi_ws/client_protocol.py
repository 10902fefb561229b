"""The client protocol, ``django-asgi-ws.v1``: the frames of docs/wire-protocol.rst.

The JavaScript client offers this subprotocol; a ``WebSocketView`` with
``client_protocol = True`` accepts with it and then wraps everything it sends
in a JSON envelope with a ``type``, so that the client can tell a group's
message (with its position, to resume from) from a reply, a presence change
or a lost stretch. Only the encoding and decoding of frames live here; the
view drives them.
"""

from __future__ import annotations

import base64
import json
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder

from django_asgi_ws.exceptions import WebSocketException
from django_asgi_ws.status import CloseCode

if TYPE_CHECKING:
    from django_asgi_ws.asgi_types import Scope
    from django_asgi_ws.broadcast.membership import Message

__all__ = ["PLAIN", "PROTOCOL", "ClientFrame", "offers_protocol", "refusal_code"]

#: The subprotocol a client offers to speak the envelopes of this module.
PROTOCOL = "django-asgi-ws.v1"
#: The subprotocol a client offers beside it, for views that do not speak it:
#: a browser that offered subprotocols fails a handshake accepted with none.
PLAIN = "django-asgi-ws.plain"

#: What a client may send: the envelope types and the fields each requires.
_CLIENT_TYPES = frozenset({"message", "request", "ping"})

_encoder = DjangoJSONEncoder(separators=(",", ":"), allow_nan=False)


def offers_protocol(scope: Scope) -> bool:
    """Whether the client offered :data:`PROTOCOL` in its handshake."""
    return PROTOCOL in (scope.get("subprotocols") or ())


def refusal_code(status: HTTPStatus | int) -> int:
    """The close code that tells a protocol client its handshake was refused with *status*.

    A browser never sees the HTTP status of a refused handshake, only 1006;
    4000 plus the status keeps the reason readable (4403, 4404, 4500).
    """
    return 4000 + int(status)


class ClientFrame:
    """One frame a protocol client sent, checked: its type, its data and a request's id."""

    __slots__ = ("data", "id", "type")

    def __init__(self, frame: Any) -> None:
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind not in _CLIENT_TYPES:
            raise WebSocketException(
                CloseCode.INVALID_PAYLOAD,
                "Expected a JSON object whose type is message, request or ping.",
            )
        request_id = frame.get("id")
        if kind == "request" and (
            isinstance(request_id, bool) or not isinstance(request_id, (str, int))
        ):
            raise WebSocketException(
                CloseCode.INVALID_PAYLOAD, "A request needs an id, a string or an integer."
            )
        self.type: str = kind
        self.data: Any = frame.get("data")
        self.id: str | int | None = request_id


def encode(frame: dict[str, Any]) -> str:
    return _encoder.encode(frame)


def message_frame(data: Any) -> str:
    """A message from the view to this client."""
    return encode({"type": "message", **_data_fields(data)})


def _data_fields(data: Any) -> dict[str, Any]:
    """``data``, or for bytes ``data`` in base64 and ``binary``: JSON carries no bytes."""
    if isinstance(data, bytes):
        return {"data": base64.b64encode(data).decode("ascii"), "binary": True}
    return {"data": data}


# The last message encoded, as (data, group, position, event), with its frame:
# one tuple, replaced whole.
_last_group_frame: tuple[tuple[Any, str, str | None, str], str] | None = None


def group_frame(message: Message) -> str:
    """A group's message, join, leave or gap marker, as the client protocol sends it.

    Encoded once for all the subscribers of the process: they get the same
    read-only data, so the last frame is kept, by the data's identity.
    """
    global _last_group_frame
    key = (message.data, message.group, message.position, message.event)
    last = _last_group_frame
    if last is not None and last[0][0] is key[0] and last[0][1:] == key[1:]:
        return last[1]
    frame = _encode_group_message(message)
    _last_group_frame = (key, frame)
    return frame


def _encode_group_message(message: Message) -> str:
    if message.event == "message":
        return encode(
            {
                "type": "message",
                "group": message.group,
                "position": message.position,
                **_data_fields(message.data),
            }
        )
    if message.event == "gap":
        return encode({"type": "gap", "group": message.group, "position": message.position})
    return encode({"type": message.event, "group": message.group, **message.data})


def joined_frame(
    group: str,
    position: str | None,
    recovered: bool | None,
    members: dict[str, dict[str, Any]] | None,
) -> str:
    frame: dict[str, Any] = {
        "type": "joined",
        "group": group,
        "position": position,
        "recovered": recovered,
    }
    if members is not None:
        frame["members"] = members
    return encode(frame)


class Welcome:
    """The first frame after the accept: the groups joined until it goes, where each resumes.

    Groups joined before the accept (and until the view first sends) are
    announced in it, so that the client knows every position to resume from
    before anything else arrives; groups joined later get a ``joined`` frame.
    """

    __slots__ = ("groups", "presence")

    def __init__(self) -> None:
        self.groups: dict[str, str | None] = {}
        self.presence: dict[str, dict[str, dict[str, Any]]] = {}

    def joined(
        self, group: str, position: str | None, members: dict[str, dict[str, Any]] | None
    ) -> None:
        self.groups[group] = position
        if members is not None:
            self.presence[group] = members

    def left(self, group: str) -> None:
        self.groups.pop(group, None)
        self.presence.pop(group, None)

    def frame(self, recovered: bool | None) -> str:
        frame: dict[str, Any] = {"type": "welcome", "groups": self.groups, "recovered": recovered}
        if self.presence:
            frame["presence"] = self.presence
        return encode(frame)


def left_frame(group: str) -> str:
    return encode({"type": "left", "group": group})


def reply_frame(request_id: str | int, data: Any) -> str:
    return encode({"type": "reply", "id": request_id, "data": data})


def error_frame(request_id: str | int, code: str, message: str) -> str:
    return encode({"type": "reply", "id": request_id, "error": {"code": code, "message": message}})


PONG = json.dumps({"type": "pong"})
