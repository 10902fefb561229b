"""Text frames built once per message, for the servers that let us write them ourselves.

A broadcast sends the same text to every subscriber, and a frame from the
server is not masked (RFC 6455, 5.1): the same bytes suit every socket that
negotiated no extension (no permessage-deflate, whose compression differs per
socket). Our server integration for uvicorn offers the ASGI extension
:data:`EXTENSION`, whose ``write`` takes such a frame and returns whether it
wrote it; ``WebSocket.send_text`` uses it, and falls back to the ASGI
``websocket.send`` when it says no (a socket closing, compression on) or where
no server offers it.

The last text framed is kept, with its frame: the subscribers of a broadcast
send the very same ``str`` object, so one frame serves them all.

The same extension's ``close_stalled(code, reason)`` closes the connection at
once if its client stopped reading (the socket's send buffer is full) and
returns whether it did: the close frame goes out behind the buffer, the
connection is reset after ``WEBSOCKET_CLOSE_TIMEOUT``, and a send waiting for
the buffer to drain raises. For a subscription that overflows while its view
waits in such a send (see ``forwarding.close_when_stalled``).
"""

from __future__ import annotations

import json
import struct
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

__all__ = ["EXTENSION", "shared_json", "text_frame"]

#: The ASGI extension (in ``scope["extensions"]``) that writes a prepared frame.
EXTENSION = "django_asgi_ws.frames"

_FIN_TEXT = 0x81
# The last text framed and its frame, and the last data encoded and its JSON:
# one tuple each, replaced whole, so that a reader never pairs one's key with
# another's value.
_last_frame: tuple[str | None, bytes] = (None, b"")
_last_json: tuple[Any, str] = (object(), "")


def text_frame(text: str) -> bytes:
    """The unmasked, unfragmented text frame of *text*."""
    global _last_frame
    last = _last_frame
    if text is last[0]:
        return last[1]
    payload = text.encode()
    length = len(payload)
    if length < 126:
        header = bytes((_FIN_TEXT, length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, length)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, length)
    frame = header + payload
    # Holding the text keeps its id from being reused by another object.
    _last_frame = (text, frame)
    return frame


def shared_json(data: Any) -> str:
    """The JSON text of a group message's data, encoded once for all its subscribers.

    Group messages are read-only (every subscription of the process gets the
    same object), so the text of the last one is kept by identity.
    """
    global _last_json
    last = _last_json
    if data is last[0]:
        return last[1]
    text = json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"))
    _last_json = (data, text)
    return text
