"""Drive the ASGI lifespan protocol from the server side, for a server that has none (daphne)."""

from __future__ import annotations

import asyncio
import logging

from django_asgi_ws.asgi_types import ASGIApp, ASGIMessage

logger = logging.getLogger("django_asgi_ws.server")


class LifespanError(RuntimeError):
    pass


class LifespanManager:
    """Sends ``lifespan.startup`` and ``lifespan.shutdown`` as uvicorn would.

    An application that raises on the lifespan scope does not support it;
    that is not an error (uvicorn's ``lifespan="auto"`` behaves the same).
    """

    def __init__(self, application: ASGIApp) -> None:
        self.application = application
        self.supported = True
        self._to_app: asyncio.Queue[ASGIMessage] = asyncio.Queue()
        self._from_app: asyncio.Queue[ASGIMessage] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._answered = False  # the application sent at least one lifespan message

    async def startup(self) -> None:
        self._task = asyncio.ensure_future(self._run())
        await self._to_app.put({"type": "lifespan.startup"})
        await self._expect("lifespan.startup")

    async def shutdown(self) -> None:
        if self._task is None or not self.supported or self._task.done():
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._expect("lifespan.shutdown")

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}

        async def send(message: ASGIMessage) -> None:
            self._answered = True
            await self._from_app.put(message)

        try:
            await self.application(scope, self._to_app.get, send)
        except Exception:
            if not self._answered:
                self.supported = False
                logger.debug("The application does not support the lifespan protocol.")
            else:
                logger.exception("Exception in the application's lifespan handler.")
        finally:
            await self._from_app.put({"type": "lifespan.finished"})

    async def _expect(self, event: str) -> None:
        message = await self._from_app.get()
        if message["type"] == f"{event}.complete":
            return
        if message["type"] == f"{event}.failed":
            raise LifespanError(message.get("message") or f"{event} failed")
        if message["type"] == "lifespan.finished" and not self.supported:
            return
        raise LifespanError(f"Expected {event}.complete, but got {message['type']!r}.")
