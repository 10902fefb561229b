"""Messages on the wire: one tag byte, then JSON (UTF-8) or the raw bytes.

``b"J" + json`` for JSON values and ``b"B" + data`` for bytes, so that a
subscriber gets back the type that was published. Other programs can publish
to a group by sending the same frames (``PUBLISH prefix:group 'J{"a":1}'``).

A message of a group with history travels with its position in front:
``b"P" + position + b" " + frame``. A message of a group without history that
a process of ours published travels with that process's origin in front,
``b"O" + origin + b" " + frame``: the process delivered it to its own
subscribers when it published it, and drops it when the broker sends it back.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

JSON_TAG = b"J"
BYTES_TAG = b"B"
POSITION_TAG = b"P"
ORIGIN_TAG = b"O"


def encode(message: Any) -> bytes:
    """The frame for *message*; TypeError or ValueError if it cannot be sent."""
    if isinstance(message, (bytes, bytearray, memoryview)):
        return BYTES_TAG + bytes(message)
    try:
        text = _dumps(message, ensure_ascii=False)
    except TypeError as exc:
        raise TypeError(
            f"Cannot publish a {type(message).__name__}: a message must be bytes or "
            f"JSON-serialisable with DjangoJSONEncoder ({exc})."
        ) from exc
    except ValueError as exc:
        raise ValueError(f"Cannot publish this message: {exc}.") from exc
    try:
        return JSON_TAG + text.encode()
    except UnicodeEncodeError:  # a lone surrogate: only an escape can carry it
        return JSON_TAG + _dumps(message, ensure_ascii=True).encode()


def _dumps(message: Any, *, ensure_ascii: bool) -> str:
    # allow_nan=False: NaN and Infinity are not JSON, and browsers refuse them.
    return json.dumps(
        message,
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
        ensure_ascii=ensure_ascii,
        allow_nan=False,
    )


_json_decoder = json.JSONDecoder()


def unpack(frame: bytes) -> str | bytes:
    """The JSON text (a str) or the bytes a frame carries; ValueError if malformed.

    Split from parse() so that a frame delivered to many subscriptions is
    unpacked once, and each subscription still parses its own copy.
    """
    tag, body = frame[:1], frame[1:]
    if tag == JSON_TAG:
        return body.decode()  # UnicodeDecodeError is a ValueError
    if tag == BYTES_TAG:
        return body
    raise ValueError(f"Unknown broadcast frame type {tag!r}.")


def parse(payload: str | bytes) -> Any:
    """The message of an unpacked frame: bytes as they are, JSON text parsed."""
    if isinstance(payload, bytes):
        return payload
    return _json_decoder.decode(payload)  # JSONDecodeError is a ValueError


def with_position(position: str, frame: bytes) -> bytes:
    """*frame* carrying the *position* of its message."""
    return POSITION_TAG + position.encode("ascii") + b" " + frame


def split_position(frame: bytes) -> tuple[str | None, bytes]:
    """The position a frame carries (None if it carries none) and the frame without it."""
    if frame[:1] != POSITION_TAG:
        return None, frame
    head, space, rest = frame.partition(b" ")
    if not space:
        raise ValueError("A positioned frame has no frame after its position.")
    return head[1:].decode("ascii"), rest


def with_origin(origin: bytes, frame: bytes) -> bytes:
    """*frame* marked as published by the process whose origin is *origin*."""
    return ORIGIN_TAG + origin + b" " + frame


def split_origin(frame: bytes) -> tuple[bytes | None, bytes]:
    """The origin a frame carries (None if none) and the frame without it."""
    if frame[:1] != ORIGIN_TAG:
        return None, frame
    head, space, rest = frame.partition(b" ")
    if not space:
        raise ValueError("A frame with an origin has no frame after it.")
    return head[1:], rest
