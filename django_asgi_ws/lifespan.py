"""Startup and shutdown hooks, run once per server process.

Servers that speak the ASGI lifespan protocol (uvicorn) run them before the
first connection and after the last; servers that do not (plain daphne) get
the startup hooks lazily at the first connection and no shutdown hooks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Hook = Callable[[], Awaitable[None]]

startup_hooks: list[Hook] = []
shutdown_hooks: list[Hook] = []


def on_startup(hook: Hook) -> Hook:
    """Register an async callable to run when the server starts (usable as a decorator)."""
    startup_hooks.append(hook)
    return hook


def on_shutdown(hook: Hook) -> Hook:
    """Register an async callable to run when the server stops (usable as a decorator)."""
    shutdown_hooks.append(hook)
    return hook


async def run_startup() -> None:
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
