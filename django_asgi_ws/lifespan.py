"""Startup and shutdown hooks, run once per server process.

Servers that speak the ASGI lifespan protocol (uvicorn) run them before the
first connection and after the last; servers that do not (plain daphne) get
the startup hooks lazily at the first connection and no shutdown hooks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

__all__ = ["on_shutdown", "on_startup"]

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
    """Run every startup hook, in order of registration."""
    for hook in list(startup_hooks):
        await hook()


async def run_shutdown() -> None:
    """Run every shutdown hook, in reverse order of registration, even if one fails."""
    errors: list[BaseException] = []
    for hook in reversed(list(shutdown_hooks)):
        try:
            await hook()
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
