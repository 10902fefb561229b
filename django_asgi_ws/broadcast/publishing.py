"""Publishing from any context: the event loop of the backend, another loop, or a thread.

The backends' ``publish`` and ``publish_sync``, and the hooks through which
each backend sends a frame to its broker, with or without a history.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

from django_asgi_ws.broadcast.encoding import encode
from django_asgi_ws.broadcast.errors import BroadcastError
from django_asgi_ws.broadcast.history import HistoryPolicy, HistoryRead, HistorySettings, Position
from django_asgi_ws.broadcast.options import validate_group


class Publishing:
    """The publishing half of :class:`~django_asgi_ws.broadcast.Backend`."""

    history: HistorySettings
    timeout: float
    _loop: asyncio.AbstractEventLoop | None

    async def open(self) -> None:
        """Bind the backend to the running event loop (see Backend.open)."""
        raise NotImplementedError

    async def publish(self, group: str, message: Any) -> str | None:
        """Send *message* (bytes, or JSON-serialisable with DjangoJSONEncoder) to *group*.

        Returns once the broker accepted it, with the message's position if
        the group keeps a history (else None); raises BroadcastError if it cannot.
        """
        return await self.publish_encoded(validate_group(group), encode(message))

    async def publish_encoded(self, group: str, frame: bytes) -> str | None:
        """``publish`` for a valid *group* and a message already encoded as *frame*."""
        current = asyncio.get_running_loop()
        loop = self._loop
        if loop is not None and loop is not current and loop.is_running():
            # Opened on another thread's loop (the server's): hop over to it.
            future = asyncio.run_coroutine_threadsafe(self._publish_frame(group, frame), loop)
            return await asyncio.wrap_future(future)
        return await self._publish_frame(group, frame)

    def publish_sync(self, group: str, message: Any) -> str | None:
        """``publish`` for sync code: threads of sync views, signals, commands, task workers.

        When the backend is open on an event loop running in another thread (a
        server), the message goes through that loop, in order with its own
        messages. Without one, it is sent on a connection of its own.
        """
        return self.publish_encoded_sync(validate_group(group), encode(message))

    def publish_encoded_sync(self, group: str, frame: bytes) -> str | None:
        """``publish_sync`` for a valid *group* and a message already encoded as *frame*."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "publish_sync() was called from async code (this thread runs an event loop); "
                "use 'await publish(...)' instead."
            )
        loop = self._loop
        if loop is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._publish_frame(group, frame), loop)
            try:
                return future.result(timeout=self.timeout * 2)
            except concurrent.futures.TimeoutError:
                future.cancel()
                raise BroadcastError(
                    f"Publishing to group {group!r} took more than {self.timeout * 2:g} s: "
                    "the event loop of the backend is blocked or stopping."
                ) from None
        policy = self.history.policy_for(group)
        if policy is None:
            self._publish_without_loop(group, frame)
            return None
        return self._publish_history_without_loop(group, frame, policy)

    async def _publish_frame(self, group: str, frame: bytes) -> str | None:
        await self.open()
        policy = self.history.policy_for(group)
        if policy is None:
            await self._publish(group, frame)
            return None
        return await self._publish_history(group, frame, policy)

    async def _publish(self, group: str, frame: bytes) -> None:
        """Subclass hook: send the encoded *frame* to *group*, on the backend's event loop.

        Raise BroadcastError if the broker cannot take it.
        """
        raise NotImplementedError

    def _publish_without_loop(self, group: str, frame: bytes) -> None:
        """Subclass hook: send *frame* from a thread where no event loop runs.

        ``publish_sync`` calls it there (a management command, a task worker).
        """
        raise NotImplementedError

    async def _publish_history(self, group: str, frame: bytes, policy: HistoryPolicy) -> str:
        """Subclass hook: ``_publish`` for a group with history; return the message's position.

        The message joins the history and goes to the subscribers in one step
        at the broker, positioned (``encoding.with_position``), and the history
        is trimmed to *policy*.
        """
        raise NotImplementedError

    def _publish_history_without_loop(self, group: str, frame: bytes, policy: HistoryPolicy) -> str:
        """Subclass hook: ``_publish_without_loop`` for a group with history."""
        raise NotImplementedError

    async def _read_history(
        self, group: str, policy: HistoryPolicy, after: Position | None
    ) -> HistoryRead:
        """Subclass hook: *group*'s head, and its entries after *after* within *policy*.

        Raise BroadcastError if the broker cannot answer.
        """
        raise NotImplementedError
