"""The test project's application with lifespan hooks that say when they run."""

from __future__ import annotations

import os

from django_asgi_ws.asgi import get_asgi_application

application = get_asgi_application()

from django_asgi_ws import lifespan  # noqa: E402 - Django is set up now


def say(line: str) -> None:
    """A line on the server's output, naming the process (workers are several)."""
    print(f"[{os.getpid()}] {line}", flush=True)


@lifespan.on_startup
async def announce_startup() -> None:
    say("startup hook ran")


@lifespan.on_shutdown
async def announce_shutdown() -> None:
    say("shutdown hook ran")
