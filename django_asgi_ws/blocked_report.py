"""What is blocking an event loop, found from another thread: the task, what it serves, its stack.

The watchdog thread of :mod:`~django_asgi_ws.loop_watchdog` calls
:func:`describe_blocking` while the loop's thread is stuck in one callback. It
only reads: the running task (``asyncio.current_task(loop)`` answers for any
loop, from any thread), what that task serves (:data:`serving`, read through
the task's context, which the tasks it starts inherit: a view's own child
tasks, and those Django starts for an HTTP request), and the frames of the
loop's thread (``sys._current_frames()``).
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import selectors
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from django.urls import ResolverMatch

from django_asgi_ws.asgi_types import Scope

__all__ = ["Blocking", "describe_blocking", "dotted_name", "serving"]

#: What the running task serves: the scope of its request or connection, and
#: the route of its websocket view (None for HTTP). The application sets it;
#: the watchdog reads it through the task's context, since ``get()`` only ever
#: sees the context of the thread that calls it.
serving: contextvars.ContextVar[tuple[Scope, ResolverMatch | None] | None] = contextvars.ContextVar(
    "django_asgi_ws.serving", default=None
)

#: The most frames shown, the innermost ones, when a stack is deeper.
STACK_LIMIT = 40


@dataclass(frozen=True)
class Blocking:
    """What a blocked loop is running."""

    #: Who blocks, the same for each block of theirs: "websocket view
    #: mysite.views.chat", "HTTP request", or what runs outside of both.
    culprit: str
    #: Which one: the websocket's path, the request's method and path, a task's name.
    detail: str
    #: The stack of the blocking code, formatted as a traceback's, innermost last.
    stack: str

    def __str__(self) -> str:
        return f"{self.culprit} ({self.detail})" if self.detail else self.culprit


def describe_blocking(loop: asyncio.AbstractEventLoop, thread_id: int) -> Blocking | None:
    """What *loop*, run by the thread *thread_id*, is running; None if it is only
    waiting for I/O (or its thread is gone)."""
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return None
    task = asyncio.current_task(loop)
    try:
        if task is None and frame.f_code.co_filename == selectors.__file__:
            return None  # polling: late only because the whole process was
        stack = format_stack(frame, task)
    finally:
        del frame  # the loop's locals, kept alive by nothing of ours
    culprit, detail = what_task_serves(task)
    return Blocking(culprit, detail, stack)


def what_task_serves(task: asyncio.Task[Any] | None) -> tuple[str, str]:
    """The culprit and detail of a :class:`Blocking` that runs *task*."""
    if task is None:
        return "a callback outside any task", ""
    context = task_context(task)
    served = context.get(serving) if context is not None else None
    if served is None:
        return "a task serving no request", task.get_name()
    scope, match = served
    if match is not None:
        return f"websocket view {dotted_name(match.func)}", str(scope.get("path", ""))
    return "HTTP request", f"{scope.get('method', '')} {scope.get('path', '')}"


def dotted_name(view: Any) -> str:
    """``module.qualname`` of *view*: a function, or the class of ``as_view()``."""
    return f"{getattr(view, '__module__', '?')}.{getattr(view, '__qualname__', repr(view))}"


def task_context(task: asyncio.Task[Any]) -> contextvars.Context | None:
    """The context *task* runs in."""
    get_context = getattr(task, "get_context", None)  # Python 3.12 and later
    if get_context is not None:
        context: contextvars.Context = get_context()
        return context
    private = getattr(task, "_context", None)  # asyncio's pure-Python Task
    if isinstance(private, contextvars.Context):
        return private
    # The C Task of Python 3.10 and 3.11 keeps it private, but shows it to the
    # garbage collector first, before the contexts of its callbacks.
    for referent in gc.get_referents(task):
        if isinstance(referent, contextvars.Context):
            return referent
    return None


def format_stack(frame: FrameType, task: asyncio.Task[Any] | None) -> str:
    """The stack from *task*'s coroutine (the whole thread's outside a task) down to
    *frame*, as a traceback shows it: the view's line is the last one of its code."""
    coroutine = task.get_coro() if task is not None else None
    outermost = getattr(coroutine, "cr_frame", None)
    # Walked at once, while the loop's thread stands still: reading the source
    # lines (extract) may let it run on.
    frames = list(_frames_up_to(frame, outermost))
    frames.reverse()
    return "".join(traceback.StackSummary.extract(iter(frames)).format())


def _frames_up_to(frame: FrameType, outermost: FrameType | None) -> Iterator[tuple[FrameType, int]]:
    current: FrameType | None = frame
    for _ in range(STACK_LIMIT):
        if current is None:
            return
        yield current, current.f_lineno
        if current is outermost:
            return
        current = current.f_back
