"""The default backend: subscriptions of this process only, no broker."""

from __future__ import annotations

import logging

from django_asgi_ws.broadcast.base import Backend

logger = logging.getLogger("django_asgi_ws.broadcast")


class MemoryBackend(Backend):
    """Delivers to the subscriptions of this process, synchronously.

    For development, tests and single-process servers: with several worker
    processes, each one only sees what it published itself.
    """

    _warned = False

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
