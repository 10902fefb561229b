"""Which groups keep a history, positions of their messages, and whether a read recovers.

A group whose name matches a pattern of ``HISTORY`` keeps its last ``SIZE``
messages for ``TTL`` seconds. Each of its messages gets a **position**,
``"<incarnation>-<sequence>"``: 12 hex digits drawn at random when the
group's history is created (again after the broker lost it), then the
message's sequence number in 16 hex digits. Sequence numbers follow each
other without holes, so that a reader can tell whether it missed a message,
and positions of one incarnation sort as strings in publish order.
"""

from __future__ import annotations

import fnmatch
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from django_asgi_ws.broadcast.options import validate_group

INCARNATION_DIGITS = 12
SEQUENCE_DIGITS = 16
_POSITION_RE = re.compile(r"([0-9a-f]{12})-([0-9a-f]{16})\Z")


@dataclass(frozen=True)
class HistoryPolicy:
    """How much of a group's past is kept: the last *size* messages, for *ttl* seconds."""

    size: int
    ttl: float


class Position(NamedTuple):
    """A parsed position: the history's incarnation and the message's sequence number."""

    incarnation: str
    sequence: int

    def __str__(self) -> str:
        return format_position(self.incarnation, self.sequence)


def format_position(incarnation: str, sequence: int) -> str:
    return f"{incarnation}-{sequence:016x}"


def parse_position(position: object) -> Position:
    """The parsed *position*; ValueError if it is not one that ``publish()`` returned."""
    if not isinstance(position, str):
        raise ValueError(f"A position must be a str, not {type(position).__name__}.")
    match = _POSITION_RE.match(position)
    if match is None:
        raise ValueError(
            f"Malformed position {position[:40]!r}: a position is what publish() returned "
            "or Message.position carried, such as '3f9a0c1b2d4e-000000000000002a'."
        )
    return Position(match[1], int(match[2], 16))


def new_incarnation() -> str:
    """A fresh random incarnation, for a history being created."""
    return secrets.token_hex(INCARNATION_DIGITS // 2)


def recovers(after: Position, head: Position | None, sequences: Sequence[int]) -> bool:
    """Whether the entries read (*sequences*, in order) are everything published after *after*.

    *head* is the history's last position (None when it holds nothing, lost or
    expired). A reader recovers only within one incarnation, from a position
    not beyond the head, and with no message missing (trimmed or expired).
    """
    if head is None or head.incarnation != after.incarnation or after.sequence > head.sequence:
        return False
    return list(sequences) == list(range(after.sequence + 1, head.sequence + 1))


class HistorySettings:
    """The ``HISTORY`` setting: fnmatch patterns of group names, each with its policy.

    The first pattern that matches a group applies; a group that matches none
    keeps no history.
    """

    def __init__(self, patterns: Mapping[str, HistoryPolicy] | None = None) -> None:
        self.patterns = dict(patterns or {})
        self.policy_for = lru_cache(maxsize=4096)(self._find)

    def _find(self, group: str) -> HistoryPolicy | None:
        for pattern, policy in self.patterns.items():
            if fnmatch.fnmatchcase(group, pattern):
                return policy
        return None


def validate_history(value: object) -> HistorySettings:
    """The ``HISTORY`` setting parsed; ValueError saying what is wrong with it."""
    if not isinstance(value, Mapping):
        raise ValueError(
            'HISTORY must be a dict of group-name patterns to {"SIZE": n, "TTL": seconds}; '
            f"it is {value!r}."
        )
    patterns = {}
    for pattern, entry in value.items():
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(f"HISTORY keys are group-name patterns (str); {pattern!r} is not.")
        patterns[pattern] = _policy(pattern, entry)
    return HistorySettings(patterns)


def _policy(pattern: str, entry: Any) -> HistoryPolicy:
    where = f"HISTORY[{pattern!r}]"
    if not isinstance(entry, Mapping) or set(entry) != {"SIZE", "TTL"}:
        raise ValueError(f'{where} must be {{"SIZE": n, "TTL": seconds}}; it is {entry!r}.')
    size, ttl = entry["SIZE"], entry["TTL"]
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 100_000:
        raise ValueError(f"{where}['SIZE'] must be an integer from 1 to 100000; it is {size!r}.")
    if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or ttl <= 0:
        raise ValueError(f"{where}['TTL'] must be a positive number of seconds; it is {ttl!r}.")
    return HistoryPolicy(size, float(ttl))


@dataclass(frozen=True)
class HistoryRead:
    """What a backend read of a group's history: its head, and the entries after a position."""

    #: The position of the last message the history holds; None if it holds none.
    head: Position | None
    #: (sequence, frame) of each message after the position asked for, in order.
    entries: Sequence[tuple[int, bytes]] = ()

    def recovers(self, after: Position) -> bool:
        return recovers(after, self.head, [sequence for sequence, _ in self.entries])


def positions_by_group(
    groups: tuple[str, ...], since: str | Mapping[str, str | None] | None
) -> dict[str, Position]:
    """``subscribe()``'s *since* as parsed positions by group; ValueError if malformed."""
    if since is None:
        return {}
    if isinstance(since, str):
        if len(groups) != 1:
            raise ValueError(
                f"since is one position, but {len(groups)} groups are joined: "
                "give a dict of group names to positions instead."
            )
        return {validate_group(groups[0]): parse_position(since)}
    if not isinstance(since, Mapping):
        raise ValueError(f"since must be a position or a dict of positions, not {since!r}.")
    unknown = sorted(str(group) for group in since if group not in groups)
    if unknown:
        raise ValueError(f"since names groups that are not joined: {', '.join(unknown)}.")
    return {group: parse_position(position) for group, position in since.items() if position}
