"""Handshake deadlines: one timer per event loop for every handshake under way.

A timer per connection (``loop.call_later``, then ``cancel``) costs more than
the rest of a handshake's bookkeeping. Since every handshake gets the same
timeout, their deadlines expire in the order the handshakes arrived: one
timer, armed for the oldest deadline, serves them all, and a handshake that
completes only leaves a dict.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

Key = TypeVar("Key")


class Deadlines(Generic[Key]):
    """Calls *expire(key)* for each key still registered *timeout* seconds after ``add``."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, timeout: float, expire: Callable[[Key], None]
    ) -> None:
        self.loop = loop
        self.timeout = timeout
        self._expire = expire
        self._pending: dict[Key, float] = {}  # insertion order is deadline order
        self._timer: asyncio.TimerHandle | None = None

    def add(self, key: Key) -> None:
        deadline = self.loop.time() + self.timeout
        self._pending[key] = deadline
        if self._timer is None:
            self._timer = self.loop.call_at(deadline, self._fire)

    def discard(self, key: Key) -> None:
        self._pending.pop(key, None)

    def __len__(self) -> int:
        return len(self._pending)

    def _fire(self) -> None:
        self._timer = None
        now = self.loop.time()
        pending = self._pending
        while pending:
            key = next(iter(pending))
            deadline = pending[key]
            if deadline > now:
                self._timer = self.loop.call_at(deadline, self._fire)
                return
            del pending[key]
            self._expire(key)


_by_loop: dict[tuple[asyncio.AbstractEventLoop, float], Deadlines[Any]] = {}


def for_loop(
    loop: asyncio.AbstractEventLoop, timeout: float, expire: Callable[[Any], None]
) -> Deadlines[Any]:
    """The deadlines of *loop* for *timeout*, made on first use.

    Keyed by the timeout too: deadlines of one timeout expire in arrival order,
    which a settings change in a test would otherwise break.
    """
    deadlines = _by_loop.get((loop, timeout))
    if deadlines is None:
        # A loop that was closed will not be asked again: forget its deadlines.
        for key in [key for key in _by_loop if key[0].is_closed()]:
            del _by_loop[key]
        deadlines = _by_loop[(loop, timeout)] = Deadlines(loop, timeout, expire)
    return deadlines


class HandshakeDeadline:
    """Cancels the task running a view that neither accepts nor refuses within *timeout*.

    Made in that task. :meth:`stop` once the handshake is decided; ``expired``
    tells the handler why the view was cancelled.
    """

    __slots__ = ("_deadlines", "_task", "expired")

    def __init__(self, timeout: float) -> None:
        #: Whether the timeout ran out (and the task was cancelled).
        self.expired = False
        self._task = asyncio.current_task()
        self._deadlines = for_loop(asyncio.get_running_loop(), timeout, HandshakeDeadline._expire)
        self._deadlines.add(self)

    def stop(self) -> None:
        """The handshake is decided: never expire."""
        self._deadlines.discard(self)
        self._task = None  # no cycle through the task once it is of no use

    def _expire(self) -> None:
        task = self._task
        if task is not None:
            self.expired = True
            task.cancel()
