"""Cancelling tasks for sure, and timeouts that never swallow a cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel *tasks* and wait until they are done.

    Cancels again until they are: before Python 3.12, ``asyncio.wait_for`` (which
    redis-py uses around socket writes) swallows a cancellation that arrives as
    the awaited operation completes.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.02)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved, so that asyncio does not log it


async def run_with_timeout(awaitable: Awaitable[T], timeout: float) -> T:
    """``asyncio.wait_for`` without its pre-3.12 habit of swallowing cancellations."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    finally:
        if not task.done():
            await cancel_and_wait(task)
    if not done:
        raise asyncio.TimeoutError(f"no result within {timeout:g} s")
    return task.result()
