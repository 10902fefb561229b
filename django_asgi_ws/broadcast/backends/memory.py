"""The default backend: subscriptions of this process only, no broker."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from django_asgi_ws.broadcast.base import Backend
from django_asgi_ws.broadcast.encoding import with_position
from django_asgi_ws.broadcast.history import (
    HistoryPolicy,
    HistoryRead,
    Position,
    format_position,
    new_incarnation,
)
from django_asgi_ws.broadcast.presence import event_frame

logger = logging.getLogger("django_asgi_ws.broadcast")


@dataclass
class _History:
    """One group's history: (sequence, monotonic time, frame) of its last messages."""

    incarnation: str = field(default_factory=new_incarnation)
    sequence: int = 0
    entries: deque[tuple[int, float, bytes]] = field(default_factory=deque)


class MemoryBackend(Backend):
    """Delivers to the subscriptions of this process, synchronously.

    For development, tests and single-process servers: with several worker
    processes, each one only sees what it published itself. Histories live as
    long as the backend, in the process.
    """

    _warned = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._histories: dict[str, _History] = {}
        self._histories_lock = threading.Lock()
        self._members: dict[str, dict[str, str]] = {}  # group -> entry -> member

    async def _publish(self, group: str, frame: bytes) -> None:
        self._deliver(group, frame)

    def _publish_without_loop(self, group: str, frame: bytes) -> None:
        if self.is_open and self.local_groups:
            self._deliver(group, frame)
        elif not self._warned:
            # No subscription in this process, and no event loop to run one: a
            # management command, a task worker, a WSGI server. The message is
            # lost, and a page that never updates would be the only symptom.
            self._warned = True
            logger.warning(
                "publish_sync() to group %r reached nobody: the memory backend delivers "
                "within one process, and this process has no subscriptions (it runs no "
                "event loop serving websockets). Set WEBSOCKET_BROADCAST to the Redis or "
                "PostgreSQL backend to reach the websockets of other processes.",
                group,
            )

    async def _publish_history(self, group: str, frame: bytes, policy: HistoryPolicy) -> str:
        position = self._remember(group, frame, policy)
        self._deliver(group, with_position(position, frame))
        return position

    def _publish_history_without_loop(self, group: str, frame: bytes, policy: HistoryPolicy) -> str:
        position = self._remember(group, frame, policy)
        self._publish_without_loop(group, with_position(position, frame))
        return position

    def _remember(self, group: str, frame: bytes, policy: HistoryPolicy) -> str:
        """Add *frame* to *group*'s history, trimmed to *policy*; its position."""
        with self._histories_lock:
            history = self._histories.get(group)
            if history is None:
                history = self._histories[group] = _History()
            history.sequence += 1
            entries = history.entries
            entries.append((history.sequence, time.monotonic(), frame))
            while len(entries) > policy.size:
                entries.popleft()
            return format_position(history.incarnation, history.sequence)

    async def _read_history(
        self, group: str, policy: HistoryPolicy, after: Position | None
    ) -> HistoryRead:
        with self._histories_lock:
            history = self._histories.get(group)
            if history is None or not history.sequence:
                return HistoryRead(None)
            head = Position(history.incarnation, history.sequence)
            if after is None:
                return HistoryRead(head)
            expired = time.monotonic() - policy.ttl
            return HistoryRead(
                head,
                [
                    (sequence, frame)
                    for sequence, published, frame in history.entries
                    if sequence > after.sequence and published >= expired
                ],
            )

    # Presence: entries of this process only, gone with it -----------------------

    async def _presence_add(self, group: str, entry: str, member: str) -> None:
        self._members.setdefault(group, {})[entry] = member
        self._deliver(group, event_frame("join", member))

    async def _presence_remove(self, group: str, entry: str) -> None:
        member = self._members.get(group, {}).pop(entry, None)
        if member is not None:
            self._deliver(group, event_frame("leave", member))

    async def _presence_renew(self, members: dict[str, dict[str, str]]) -> None:
        pass

    async def _presence_read(self, group: str) -> list[str]:
        return list(self._members.get(group, {}).values())
