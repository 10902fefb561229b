"""Received messages: the iterators of ``iter_*``, and the checks and decoding of each."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, Literal, Protocol

from django_asgi_ws.exceptions import WebSocketException
from django_asgi_ws.status import CloseCode

JSONMode = Literal["text", "binary"]


class NextMessage(Protocol):
    """The receiving coroutine every receive method and iterator shares."""

    def __call__(
        self, kind: type[str] | type[bytes] | None, decode: bool, *, iterating: bool
    ) -> Awaitable[Any]: ...


class Messages:
    """The iterator of ``iter_text``, ``iter_bytes`` and ``iter_json``.

    A class rather than an async generator: the event loop keeps every async
    generator in a WeakSet from its first step to its end, and hands each of its
    items back through a StopIteration, which costs every connection and every
    message more than this iterator's whole step.
    """

    __slots__ = ("_decode", "_kind", "_next_message")

    def __init__(
        self, next_message: NextMessage, kind: type[str] | type[bytes], *, decode: bool
    ) -> None:
        self._next_message = next_message
        self._kind = kind
        self._decode = decode

    def __aiter__(self) -> Messages:
        return self

    def __anext__(self) -> Awaitable[Any]:
        # Not a coroutine of its own: the receiving coroutine, awaited by
        # ``async for`` directly, is one level less per message.
        return self._next_message(self._kind, self._decode, iterating=True)


def decode_json(data: str | bytes) -> Any:
    """Parse a JSON message, turning malformed input into close code 1007."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # also UnicodeDecodeError, and nesting
        raise WebSocketException(CloseCode.INVALID_PAYLOAD, "Malformed JSON.") from exc


def json_kind(mode: str) -> type[str] | type[bytes]:
    """What JSON arrives in: text messages (the usual) or binary ones."""
    if mode == "text":
        return str
    if mode == "binary":
        return bytes
    raise ValueError(f'mode must be "text" or "binary", not {mode!r}.')


def unexpected_kind(kind: type[str] | type[bytes]) -> WebSocketException:
    """The 1003 close for a message of the other kind than *kind*."""
    if kind is str:
        reason = "Expected a text message, got a binary one."
    else:
        reason = "Expected a binary message, got a text one."
    return WebSocketException(CloseCode.UNSUPPORTED_DATA, reason)


def encode_headers(
    headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]],
) -> list[tuple[bytes, bytes]]:
    """Handshake response headers as ASGI wants them: lower-case names, latin-1 bytes."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [
        (
            name.lower().encode("latin-1") if isinstance(name, str) else name.lower(),
            value.encode("latin-1") if isinstance(value, str) else value,
        )
        for name, value in items
    ]
