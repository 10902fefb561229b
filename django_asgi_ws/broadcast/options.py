"""Values of the settings and group names: the defaults, and what is valid."""

from __future__ import annotations

import re
from typing import Literal, get_args

OverflowPolicy = Literal["drop_oldest", "close"]
OVERFLOW_POLICIES: tuple[OverflowPolicy, ...] = get_args(OverflowPolicy)

DEFAULT_QUEUE_SIZE = 100
DEFAULT_OVERFLOW: OverflowPolicy = "drop_oldest"
DEFAULT_PREFIX = "django_asgi_ws:"
DEFAULT_TIMEOUT = 5.0
DEFAULT_PRESENCE_TIMEOUT = 30.0

GROUP_MAX_LENGTH = 100
GROUP_CHARACTERS = "ASCII letters, digits, '-', '_', '.' and ':'"
_NAME_RE = re.compile(r"[A-Za-z0-9._:-]*\Z")
PREFIX_MAX_LENGTH = 30


def validate_group(group: object) -> str:
    """Return *group* if it is a valid group name, else raise ValueError saying why."""
    if not isinstance(group, str):
        raise ValueError(f"A group name must be a str, not {type(group).__name__}.")
    if not group:
        raise ValueError("A group name cannot be empty.")
    if len(group) > GROUP_MAX_LENGTH:
        raise ValueError(
            f"The group name {group[:20]!r}... is {len(group)} characters long; "
            f"the limit is {GROUP_MAX_LENGTH}."
        )
    if not _NAME_RE.match(group):
        raise ValueError(f"Invalid group name {group!r}: use only {GROUP_CHARACTERS}.")
    return group


def validate_prefix(prefix: object) -> str:
    """Return *prefix* if it can prefix broker channel names, else raise ValueError."""
    if not isinstance(prefix, str) or not _NAME_RE.match(prefix):
        raise ValueError(f"PREFIX must be a str of {GROUP_CHARACTERS}; it is {prefix!r}.")
    if len(prefix) > PREFIX_MAX_LENGTH:
        raise ValueError(f"PREFIX is at most {PREFIX_MAX_LENGTH} characters; it is {prefix!r}.")
    return prefix


def validate_queue_size(queue_size: object) -> int:
    if not isinstance(queue_size, int) or isinstance(queue_size, bool) or queue_size < 1:
        raise ValueError(f"QUEUE_SIZE must be a positive integer; it is {queue_size!r}.")
    return queue_size


def validate_overflow(overflow: object) -> OverflowPolicy:
    for policy in OVERFLOW_POLICIES:
        if overflow == policy:
            return policy
    raise ValueError(f'OVERFLOW must be "drop_oldest" or "close"; it is {overflow!r}.')


def validate_timeout(timeout: object) -> float:
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise ValueError(f"TIMEOUT must be a positive number of seconds; it is {timeout!r}.")
    return float(timeout)


def validate_presence_timeout(timeout: object) -> float:
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise ValueError(
            f"PRESENCE_TIMEOUT must be a positive number of seconds; it is {timeout!r}."
        )
    return float(timeout)


def validate_location(location: object, schemes: tuple[str, ...], *, backend: str) -> str:
    """Return *location* if it starts with one of *schemes* (any str if none), else ValueError."""
    if not isinstance(location, str):
        raise ValueError(f"LOCATION must be a str; it is {location!r}.")
    scheme = location.partition("://")[0] if "://" in location else ""
    if schemes and scheme not in schemes:
        expected = ", ".join(f"{s}://" for s in schemes)
        raise ValueError(
            f"LOCATION {location!r} does not start with one of {expected} for {backend}."
        )
    return location
