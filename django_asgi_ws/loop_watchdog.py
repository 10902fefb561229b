"""A watchdog thread per event loop, reporting the code that keeps the loop from running.

A view that calls blocking code on the event loop (``time.sleep()``,
``requests``, a long computation) freezes every connection of its process
until it returns. The loop runs a heartbeat every fifth of
``WEBSOCKET_BLOCKED_LOOP_WARNING``, which notes the time; a thread wakes as
often, and when the heartbeat is late by the setting's seconds it logs one
WARNING on ``django_asgi_ws.blocked`` with what the loop runs
(:mod:`~django_asgi_ws.blocked_report`), then one INFO line with the whole
duration once the loop runs again. Repeated blocks of the same view within a
minute are counted in the next warning rather than logged.

The application starts the watchdog of the loop that calls it, at its first
call (lifespan startup, the first connection or HTTP request: every server
gets one), and stops it at lifespan shutdown; one whose loop closed ends by
itself within a heartbeat.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
import weakref
from dataclasses import dataclass

from django_asgi_ws.blocked_report import Blocking, describe_blocking
from django_asgi_ws.conf import get_settings

__all__ = ["stop_watching_running_loop", "valid_threshold", "watch_running_loop"]

logger = logging.getLogger("django_asgi_ws.blocked")

#: Heartbeats per threshold: a block is reported between 1 and 1.4 thresholds
#: after it began, and its reported length is short by a fifth at most.
BEATS_PER_THRESHOLD = 5
#: Seconds during which more blocks of the same culprit are counted, not logged.
REPEAT_INTERVAL = 60.0
#: Seconds a stopping loop waits for its watchdog thread to end.
JOIN_TIMEOUT = 1.0

# By id(loop): a watchdog holds its loop weakly, so that a loop left unclosed is
# still collected (and warned about) rather than kept alive by its watchdog.
_watchdogs: dict[int, LoopWatchdog] = {}
_invalid_threshold_logged: object = None


def valid_threshold(value: object) -> bool:
    """Whether *value* is a threshold the watchdog can use: positive, finite seconds."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def watch_running_loop() -> None:
    """Give the running loop the watchdog the settings ask for, on the loop's thread.

    Called for every request and connection: once the watchdog runs, it costs
    a dictionary lookup.
    """
    threshold = get_settings().blocked_loop_warning
    loop = asyncio.get_running_loop()
    watchdog = _watchdogs.get(id(loop))
    if watchdog is not None and watchdog.loop() is loop:
        if watchdog.threshold == threshold:
            return
        stop_watching_running_loop()
    if threshold is None:
        return
    if not valid_threshold(threshold):
        _log_invalid_threshold(threshold)
        return
    for key, other in list(_watchdogs.items()):
        other_loop = other.loop()
        if other_loop is None or other_loop.is_closed():
            del _watchdogs[key]
    _watchdogs[id(loop)] = LoopWatchdog(loop, threshold)


def stop_watching_running_loop() -> None:
    """Stop the running loop's watchdog, if it has one, and wait for its thread."""
    loop = asyncio.get_running_loop()
    watchdog = _watchdogs.get(id(loop))
    if watchdog is not None and watchdog.loop() is loop:
        del _watchdogs[id(loop)]
        watchdog.stop()


def _log_invalid_threshold(threshold: object) -> None:
    global _invalid_threshold_logged
    if _invalid_threshold_logged is not threshold:  # once per value
        _invalid_threshold_logged = threshold
        logger.error(
            "WEBSOCKET_BLOCKED_LOOP_WARNING must be a positive number of seconds or "
            "None; it is %r, so blocked event loops are not reported (system check "
            "django_asgi_ws.E035).",
            threshold,
        )


@dataclass
class Episode:
    """One block of the loop, from its report to the heartbeat that ends it."""

    last_beat: float
    blocking: Blocking
    logged: bool


class LoopWatchdog:
    """The heartbeat of one loop, and the thread that watches it. Made on the loop's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, threshold: float) -> None:
        self.loop = weakref.ref(loop)
        self.threshold = threshold
        self.interval = threshold / BEATS_PER_THRESHOLD
        self.loop_thread_id = threading.get_ident()
        #: When the heartbeat last ran (time.monotonic()), and how late it was
        #: the last time it was late by the threshold or more.
        self.last_beat = time.monotonic()
        self.last_block = 0.0
        self._stopping = threading.Event()
        # The timer's handle is not kept: it refers to the loop.
        loop.call_later(self.interval, self._beat)
        # Culprit: when last logged, blocks since. Bounded: culprits are the
        # project's websocket views and three more.
        self._logged: dict[str, tuple[float, int]] = {}
        self._thread = threading.Thread(
            target=self._watch, name="django_asgi_ws.loop_watchdog", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """End the heartbeat and the thread; on the loop's thread."""
        self._stopping.set()
        self._thread.join(JOIN_TIMEOUT)

    # The loop's side: one timer callback per interval, nothing else.

    def _beat(self) -> None:
        if self._stopping.is_set():
            return
        now = time.monotonic()
        late = now - self.last_beat - self.interval
        if late >= self.threshold:
            self.last_block = late
        self.last_beat = now
        asyncio.get_running_loop().call_later(self.interval, self._beat)

    # The thread's side.

    def _watch(self) -> None:
        episode: Episode | None = None
        paused_beat = -1.0  # the heartbeat of when the loop was last seen stopped
        while not self._stopping.wait(self.interval):
            loop = self.loop()
            if loop is None or loop.is_closed():
                return
            last_beat = self.last_beat
            if not loop.is_running():
                paused_beat = last_beat  # a stopped loop is not blocked: wait for a beat
            elif episode is not None:
                if last_beat != episode.last_beat:
                    self._ended(episode)
                    episode = None
            elif last_beat != paused_beat:
                overdue = time.monotonic() - last_beat - self.interval
                if overdue >= self.threshold:
                    try:
                        episode = self._began(loop, last_beat, overdue)
                    except Exception:
                        logger.exception("Cannot tell what blocks the event loop.")
            del loop  # between two looks, the loop may be collected

    def _began(
        self, loop: asyncio.AbstractEventLoop, last_beat: float, overdue: float
    ) -> Episode | None:
        blocking = describe_blocking(loop, self.loop_thread_id)
        if blocking is None or self.last_beat != last_beat:
            return None  # waiting for I/O after all, or it ran meanwhile
        unlogged = self._count(blocking.culprit)
        if unlogged is None:
            return Episode(last_beat, blocking, logged=False)
        repeats = ""
        if unlogged:
            repeats = f" It blocked the loop {unlogged} more time(s) since the last report."
        logger.warning(
            "Event loop blocked for %.2f s so far by %s: every other connection of this "
            "process waits until it returns.%s\nStack (most recent call last):\n%s",
            overdue,
            blocking,
            repeats,
            blocking.stack.rstrip("\n"),
        )
        return Episode(last_beat, blocking, logged=True)

    def _ended(self, episode: Episode) -> None:
        if episode.logged:
            logger.info(
                "Event loop blocked for %.2f s in total by %s.",
                self.last_block,
                episode.blocking,
            )

    def _count(self, culprit: str) -> int | None:
        """None if *culprit* was logged less than REPEAT_INTERVAL ago (counting this
        block), else the blocks of theirs not logged since their last report."""
        now = time.monotonic()
        logged_at, since = self._logged.get(culprit, (-math.inf, 0))
        if now - logged_at < REPEAT_INTERVAL:
            self._logged[culprit] = (logged_at, since + 1)
            return None
        self._logged[culprit] = (now, 0)
        return since


def _forget_after_fork() -> None:
    # The threads did not survive the fork; the child starts its own.
    _watchdogs.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
