"""Per-connection limits on what a client may send."""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

from django_asgi_ws.conf import conf

RATE_PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")


def parse_rate(value: str) -> tuple[int, float]:
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
    """The limits every new connection gets; built once per settings change."""

    max_message_size: int | None
    handshake_timeout: float | None
    rate: tuple[int, float] | None

    def rate_limiter(self) -> RateLimiter | None:
        return RateLimiter(*self.rate) if self.rate is not None else None


@dataclass(frozen=True)
class HandshakeSettings:
    """What every handshake reads from settings, read once per settings change.

    Reading a Django setting goes through LazySettings' Python-level attribute
    lookup: a handshake would otherwise pay it half a dozen times.
    """

    force_script_name: str
    use_x_forwarded_host: bool
    limits: ConnectionLimits


@functools.lru_cache(maxsize=1)
def get_handshake_settings() -> HandshakeSettings:
    return HandshakeSettings(
        force_script_name=str(settings.FORCE_SCRIPT_NAME or ""),
        use_x_forwarded_host=bool(settings.USE_X_FORWARDED_HOST),
        limits=get_connection_limits(),
    )


@functools.lru_cache(maxsize=1)
def get_connection_limits() -> ConnectionLimits:
    """The limits from settings (cached; cleared when a test changes them).

    Invalid values are reported by the system checks; here they fail loudly.
    """
    rate = conf.WEBSOCKET_RATE_LIMIT
    timeout = conf.WEBSOCKET_HANDSHAKE_TIMEOUT
    return ConnectionLimits(
        max_message_size=conf.WEBSOCKET_MAX_MESSAGE_SIZE,
        handshake_timeout=float(timeout) if timeout is not None else None,
        rate=parse_rate(rate) if rate is not None else None,
    )


def _clear_cache(*, setting: str, **kwargs: Any) -> None:
    get_handshake_settings.cache_clear()
    if setting in {
        "WEBSOCKET_MAX_MESSAGE_SIZE",
        "WEBSOCKET_HANDSHAKE_TIMEOUT",
        "WEBSOCKET_RATE_LIMIT",
    }:
        get_connection_limits.cache_clear()


setting_changed.connect(_clear_cache)
