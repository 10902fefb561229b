"""Per-connection limits on what a client may send."""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django_asgi_ws.conf import WebSocketSettings

RATE_PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")


def parse_rate(value: object) -> tuple[int, float]:
    """``"20/s"`` -> ``(20, 1.0)``: at most 20 messages a second, in bursts of up to 20.

    Units: ``s``/``second``, ``m``/``minute``, ``h``/``hour``.
    """
    match = _RATE.match(value) if isinstance(value, str) else None
    if match is None or int(match[1]) <= 0:
        raise ValueError(
            f'A rate looks like "20/s", "600/m" or "5000/h" (a positive count per unit), '
            f"not {value!r}."
        )
    return int(match[1]), RATE_PERIODS[match[2][0]]


class RateLimiter:
    """A token bucket: *count* messages per *period* seconds, bursts up to *count*.

    Tokens refill continuously, so a client that keeps under the rate on
    average is never cut off, however its messages bunch up.
    """

    __slots__ = ("_capacity", "_refill_per_second", "_tokens", "_updated")

    def __init__(self, count: int, period: float) -> None:
        self._capacity = float(count)
        self._refill_per_second = count / period
        self._tokens = float(count)
        self._updated = time.monotonic()

    def allow(self) -> bool:
        """Take one token; False if the client is over its rate."""
        now = time.monotonic()
        self._tokens = min(
            self._capacity, self._tokens + (now - self._updated) * self._refill_per_second
        )
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass(frozen=True)
class ConnectionLimits:
    """The limits every new connection gets, from one settings snapshot."""

    max_message_size: int | None
    handshake_timeout: float | None
    rate: tuple[int, float] | None

    def rate_limiter(self) -> RateLimiter | None:
        return RateLimiter(*self.rate) if self.rate is not None else None


@functools.lru_cache(maxsize=1)
def connection_limits(settings: WebSocketSettings) -> ConnectionLimits:
    """The limits *settings* give (cached per snapshot).

    Invalid values are reported by the system checks; here they fail loudly.
    """
    rate = settings.rate_limit
    timeout = settings.handshake_timeout
    return ConnectionLimits(
        max_message_size=settings.max_message_size,
        handshake_timeout=float(timeout) if timeout is not None else None,
        rate=parse_rate(rate) if rate is not None else None,
    )


def is_too_big(data: str | bytes, limit: int) -> bool:
    """Whether *data* is over *limit* bytes of UTF-8, encoding only text that may be.

    A character is 1 to 4 bytes of UTF-8, so text of at most ``limit // 4``
    characters never is: the per-message path skips the call for it.
    """
    if isinstance(data, bytes) or len(data) > limit:
        return len(data) > limit
    return len(data.encode("utf-8", "surrogatepass")) > limit
