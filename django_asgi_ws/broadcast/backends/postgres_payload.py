"""Frames as NOTIFY payloads: ASCII text, split into chunks below the 8000-byte limit.

A payload is ``"J" + JSON`` (non-ASCII escaped as ``\\uXXXX``, so that any
database encoding carries it) or ``"B" + base64``, after ``"O" + origin + " "``
when a process of ours published it (see ``encoding``). A longer one is sent as
chunks, ``"C<message id>:<index>:<count>:<piece>"``, all NOTIFYs of one
transaction: PostgreSQL delivers them together, after every notification of
transactions committed earlier, so the set is complete before the next
message of the same publisher arrives. The listener joins the pieces again;
a set still incomplete after ``timeout`` seconds (the listener reconnected
in the middle of it) is dropped.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django_asgi_ws.broadcast.encoding import (
    BYTES_TAG,
    JSON_TAG,
    ORIGIN_TAG,
    split_origin,
    with_origin,
    with_position,
)
from django_asgi_ws.broadcast.presence import EVENT_TAG

logger = logging.getLogger("django_asgi_ws.broadcast")

#: PostgreSQL refuses a payload of 8000 bytes or more (in its default build).
MAX_PAYLOAD = 7999

_CHUNK_RE = re.compile(r"C([0-9a-f]{1,32}):(\d{1,9}):(\d{1,9}):", re.ASCII)
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # outside the BMP: a UTF-16 surrogate pair, as JSON spells it
        code -= 0x10000
        return f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}"
    return f"\\u{code:04x}"


def to_text(frame: bytes) -> str:
    """The ASCII payload for *frame*."""
    if frame[:1] == ORIGIN_TAG:
        origin, rest = split_origin(frame)
        assert origin is not None and origin.isascii()
        return "O" + origin.decode("ascii") + " " + to_text(rest)
    tag, body = frame[:1], frame[1:]
    if tag == JSON_TAG:
        text = body.decode()
        # Non-ASCII characters only occur inside JSON strings, where an escape is valid.
        return "J" + (text if text.isascii() else _NON_ASCII_RE.sub(_escape, text))
    if tag == BYTES_TAG:
        return "B" + base64.b64encode(body).decode("ascii")
    raise ValueError(f"Unknown broadcast frame type {tag!r}.")


def from_text(text: str) -> bytes:
    """The frame a (complete) payload carries; ValueError if it is malformed.

    A positioned payload is ``"P" + position + " " + payload``.
    """
    tag, body = text[:1], text[1:]
    if tag == "O":
        origin, space, rest = body.partition(" ")
        if not space or rest[:1] in ("O", "P"):
            raise ValueError("A payload with an origin has no message payload after it.")
        return with_origin(origin.encode("ascii"), from_text(rest))
    if tag == "P":
        position, space, rest = body.partition(" ")
        if not space or rest[:1] == "P":
            raise ValueError("A positioned payload has no payload after its position.")
        return with_position(position, from_text(rest))
    if tag == "J":
        return JSON_TAG + body.encode()
    if tag == "E":  # a presence event, ASCII already
        return EVENT_TAG + body.encode()
    if tag == "B":
        return BYTES_TAG + base64.b64decode(body, validate=True)
    raise ValueError(f"Unknown payload type {tag!r}.")


def split(text: str, message_id: str, limit: int = MAX_PAYLOAD) -> list[str]:
    """*text* as one payload, or as chunks of at most *limit* bytes each."""
    if len(text.encode()) <= limit:
        return [text]
    text = text if text.isascii() else _NON_ASCII_RE.sub(_escape, text)
    digits = len(str(len(text)))  # enough for any index and count
    size = limit - len(f"C{message_id}:::") - 2 * digits
    pieces = [text[start : start + size] for start in range(0, len(text), size)]
    count = len(pieces)
    return [f"C{message_id}:{index}:{count}:{piece}" for index, piece in enumerate(pieces)]


@dataclass
class _Partial:
    count: int
    started: float
    pieces: dict[int, str] = field(default_factory=dict)


class Reassembler:
    """Join the chunks of each message, per channel and message id."""

    def __init__(self, timeout: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.expired = 0
        self._clock = clock
        self._partial: dict[tuple[str, str], _Partial] = {}

    @property
    def pending(self) -> int:
        """How many messages wait for more chunks."""
        return len(self._partial)

    def feed(self, channel: str, payload: str) -> bytes | None:
        """The frame once *payload* completes a message, else None; ValueError if malformed."""
        self.expire()
        match = _CHUNK_RE.match(payload)
        if match is None:
            return from_text(payload)
        message_id, index, count = match[1], int(match[2]), int(match[3])
        if not 0 <= index < count:
            raise ValueError(f"Chunk {index} of {count} is out of range.")
        key = (channel, message_id)
        partial = self._partial.get(key)
        if partial is None:
            partial = self._partial[key] = _Partial(count, self._clock())
        elif partial.count != count:
            raise ValueError(f"Chunks of message {message_id} disagree on their count.")
        partial.pieces[index] = payload[match.end() :]
        if len(partial.pieces) < count:
            return None
        del self._partial[key]
        return from_text("".join(partial.pieces[i] for i in range(count)))

    def expire(self) -> None:
        """Drop the messages that waited more than ``timeout`` for their other chunks."""
        if not self._partial:
            return
        deadline = self._clock() - self.timeout
        for key, partial in list(self._partial.items()):
            if partial.started < deadline:
                del self._partial[key]
                self.expired += 1
                logger.warning(
                    "Dropped broadcast message %s: %d of its %d chunks arrived.",
                    key[1],
                    len(partial.pieces),
                    partial.count,
                )

    def clear(self) -> None:
        self._partial.clear()
