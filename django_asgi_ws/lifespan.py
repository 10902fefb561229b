"""Startup and shutdown hooks, run once per server process, and the ASGI lifespan protocol.

Servers that speak the ASGI lifespan protocol (uvicorn) run them before the
first connection and after the last; servers that do not (plain daphne) get
the startup hooks lazily at the first connection and no shutdown hooks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django_asgi_ws.asgi_types import Receive, Send

__all__ = ["on_shutdown", "on_startup"]

logger = logging.getLogger("django_asgi_ws")

Hook = Callable[[], Awaitable[None]]

startup_hooks: list[Hook] = []
shutdown_hooks: list[Hook] = []


def on_startup(hook: Hook) -> Hook:
    """Register an async callable to run when the server starts (usable as a decorator).

    *hook* takes no arguments and runs once per server process, before the
    first connection (with plain daphne: at the first connection). Hooks run
    in order of registration; register them at import time, for example in
    ``AppConfig.ready()``.
    """
    startup_hooks.append(hook)
    return hook


def on_shutdown(hook: Hook) -> Hook:
    """Register an async callable to run when the server stops (usable as a decorator).

    Shutdown hooks run in reverse order of registration, after the last
    connection; one that fails does not stop the others. Plain daphne, which
    has no lifespan protocol, runs none.
    """
    shutdown_hooks.append(hook)
    return hook


async def run_startup() -> None:
    """Run every startup hook, in order of registration; a failure is logged and raised."""
    for hook in list(startup_hooks):
        try:
            await hook()
        except Exception:
            logger.exception("Startup hook %s failed", _name(hook))
            raise


async def run_shutdown() -> list[Exception]:
    """Run every shutdown hook, in reverse order of registration, even if some fail.

    Each failure is logged with its traceback; the failures are returned.
    """
    errors: list[Exception] = []
    for hook in reversed(list(shutdown_hooks)):
        try:
            await hook()
        except Exception as exc:
            logger.exception("Shutdown hook %s failed", _name(hook))
            errors.append(exc)
    return errors


class Startup:
    """The startup hooks of one application, run once, by lifespan or by the first connection."""

    def __init__(self) -> None:
        #: Whether the hooks have all run.
        self.done = False
        self._running: asyncio.Future[None] | None = None

    async def ensure(self) -> None:
        """Run the startup hooks unless they ran; a failure raises, and the next call retries."""
        if self.done:
            return
        if self._running is None:
            self._running = asyncio.ensure_future(run_startup())
        try:
            # shield: one caller giving up must not cancel the startup the others wait for
            await asyncio.shield(self._running)
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._running = None  # let the next caller try again
            raise
        self.done = True


async def serve_lifespan(startup: Startup, receive: Receive, send: Send) -> None:
    """Answer the ASGI lifespan protocol: the startup hooks, then the shutdown hooks."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await startup.ensure()
            except Exception as exc:  # logged by run_startup
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            errors = await run_shutdown()
            if errors:
                failed = "; ".join(repr(error) for error in errors)
                await send({"type": "lifespan.shutdown.failed", "message": failed})
            else:
                await send({"type": "lifespan.shutdown.complete"})
            return


def _name(hook: Hook) -> str:
    return f"{getattr(hook, '__module__', '?')}.{getattr(hook, '__qualname__', repr(hook))}"
