"""Histories at Redis: a stream and a hash per group, and the script that publishes to them.

For group ``g``, ``PREFIX + g + "|history"`` is a stream whose entry IDs are
``<sequence>-0`` (field ``t``, Redis's clock in ms; field ``f``, the frame),
and ``PREFIX + g + "|head"`` a hash of the history's ``incarnation`` and last
``sequence``. One script call adds the entry, trims the stream to SIZE and
publishes the positioned frame: one round trip, atomic, so that a subscriber
never sees a message the history does not hold yet.

The stream expires TTL seconds after the last message; the head lives on for
a day (or TTL, if longer), so that a client back after a quiet spell still
continues from its position. A history that Redis lost (a restart without
persistence, an eviction) gets a new incarnation at the next message.
"""

from __future__ import annotations

import secrets
from typing import Any

from django_asgi_ws.broadcast.history import HistoryPolicy, HistoryRead, Position

HEAD_MIN_TTL = 86_400.0

# KEYS: head, stream. ARGV: channel, frame, SIZE, TTL (ms), head's TTL (ms),
# an incarnation for a history created now.
PUBLISH_SCRIPT = """
local head, stream = KEYS[1], KEYS[2]
if redis.call('HSETNX', head, 'incarnation', ARGV[6]) == 1 then
    redis.call('DEL', stream)
end
local incarnation = redis.call('HGET', head, 'incarnation')
local sequence = redis.call('HINCRBY', head, 'sequence', 1)
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('XADD', stream, 'MAXLEN', ARGV[3], sequence .. '-0', 't', ms, 'f', ARGV[2])
redis.call('PEXPIRE', stream, ARGV[4])
redis.call('PEXPIRE', head, ARGV[5])
local position = string.format('%s-%016x', incarnation, sequence)
redis.call('PUBLISH', ARGV[1], 'P' .. position .. ' ' .. ARGV[2])
return position
"""


def keys(prefix: str, group: str) -> list[str]:
    """The head's and the stream's keys of *group*'s history."""
    return [f"{prefix}{group}|head", f"{prefix}{group}|history"]


def publish_args(channel: str, frame: bytes, policy: HistoryPolicy) -> list[Any]:
    ttl_ms = max(1, round(policy.ttl * 1000))
    head_ttl_ms = max(ttl_ms, round(HEAD_MIN_TTL * 1000))
    return [channel, frame, policy.size, ttl_ms, head_ttl_ms, secrets.token_hex(6)]


def read_commands(pipeline: Any, prefix: str, group: str, after: Position | None) -> None:
    """Queue, in a MULTI, what :func:`parse_read` needs."""
    head, stream = keys(prefix, group)
    pipeline.hmget(head, "incarnation", "sequence")
    pipeline.time()
    if after is not None:
        pipeline.xrange(stream, min=f"{after.sequence + 1}-0", max="+")


def parse_read(results: list[Any], policy: HistoryPolicy) -> HistoryRead:
    """The HistoryRead of the MULTI's results; entries older than TTL left out."""
    (incarnation, sequence), (seconds, microseconds), *rest = results
    if incarnation is None or sequence is None:
        return HistoryRead(None)
    head = Position(incarnation.decode("ascii"), int(sequence))
    oldest = seconds * 1000 + microseconds // 1000 - policy.ttl * 1000
    entries = [
        (int(entry_id.split(b"-")[0]), fields[b"f"])
        for entry_id, fields in (rest[0] if rest else [])
        if int(fields[b"t"]) >= oldest
    ]
    return HistoryRead(head, entries)
