"""The backend's count of the messages dropped for slow subscribers, and its rate-limited log."""

from __future__ import annotations

import logging
import time

from django_asgi_ws.broadcast.membership import Subscriber

logger = logging.getLogger("django_asgi_ws.broadcast")


class DropReporter:
    """Count the messages dropped for slow subscribers; log a WARNING at most every interval."""

    interval = 10.0

    def __init__(self) -> None:
        self.total = 0
        self._unreported = 0
        self._last_report = -float("inf")

    def report(self, subscriber: Subscriber, count: int = 1) -> None:
        self.total += count
        self._unreported += count
        now = time.monotonic()
        if now - self._last_report >= self.interval:
            logger.warning(
                "Dropped %d broadcast message(s) for subscribers too slow to keep up "
                "(queue full at %d messages); %r has dropped %d in all.",
                self._unreported,
                subscriber.queue_size,
                subscriber,
                subscriber.dropped,
            )
            self._unreported = 0
            self._last_report = now
