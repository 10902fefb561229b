"""The default backend: subscriptions of this process only, no broker."""

from __future__ import annotations

from django_asgi_ws.broadcast.base import Backend


class MemoryBackend(Backend):
    """Delivers to the subscriptions of this process, synchronously.

    For development, tests and single-process servers: with several worker
    processes, each one only sees what it published itself.
    """

    async def _publish(self, group: str, frame: bytes) -> None:
        self._deliver(group, frame)

    def _publish_without_loop(self, group: str, frame: bytes) -> None:
        # No event loop runs the subscriptions, so none of them is waiting: a
        # backend never opened has no subscriber at all.
        loop = self._loop
        if loop is not None and not loop.is_closed():
            self._deliver(group, frame)
