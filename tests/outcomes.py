"""How each kind of connection must end: one table for the test client and both servers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    name: str
    path: str
    send: str | bytes | None = None
    # Handshake refused: this HTTP status where the server supports denial
    # responses (uvicorn, the test client), 403 where it does not (daphne).
    refused: int | None = None
    close_code: int | None = None
    close_reason: str = ""
    traceback_logged: bool = False


OUTCOMES = [
    Outcome("unknown path", "/ws/nowhere/", refused=404),
    Outcome(
        "exception before accept", "/ws/fail-before-accept/", refused=500, traceback_logged=True
    ),
    Outcome("close before accept", "/ws/refuse/", refused=403),
    Outcome("return before accept", "/ws/return-without-accepting/", refused=403),
    Outcome("on_connect refuses", "/ws/refuse-on-connect/", refused=403),
    Outcome(
        "exception after accept",
        "/ws/fail-after-accept/",
        send="x",
        close_code=1011,
        traceback_logged=True,
    ),
    Outcome("return without closing", "/ws/return-without-closing/", close_code=1000),
    Outcome(
        "malformed JSON",
        "/ws/counter/",
        send="{not json",
        close_code=1007,
        close_reason="Malformed JSON.",
    ),
    Outcome(
        "binary frame to a text view",
        "/ws/text-only/",
        send=b"\x00",
        close_code=1003,
        close_reason="Expected a text message, got a binary one.",
    ),
    Outcome(
        "text frame to a bytes view",
        "/ws/bytes-only/",
        send="text",
        close_code=1003,
        close_reason="Expected a binary message, got a text one.",
    ),
    Outcome(
        "WebSocketException 1013",
        "/ws/close/1013/",
        send="x",
        close_code=1013,
        close_reason="custom reason",
    ),
    Outcome(
        "WebSocketException 4001",
        "/ws/close/4001/",
        send="x",
        close_code=4001,
        close_reason="custom reason",
    ),
]
