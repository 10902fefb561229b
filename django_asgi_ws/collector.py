"""The garbage collector of a process that serves websockets, set up once it serves.

A broadcast to thousands of sockets allocates, for a moment, thousands of
objects that die as soon as it is done (the wake-ups of the views' tasks, their
futures). With CPython's default threshold (700 allocations), a collection runs
in the middle of every such broadcast, finds those objects alive and promotes
them; they then count towards full collections, which traverse every object of
the process, connections included, and pause every socket for tens or hundreds
of milliseconds.

So our server integrations (``runasgi`` and the production entry points), on
their first websocket connection, once the application is loaded:

- raise the first generation's threshold to ``WEBSOCKET_GC_THRESHOLD``: a
  broadcast's short-lived objects die before a collection finds them;
- freeze (``gc.freeze()``) what is alive at that moment, the application and
  the modules it imported, so that full collections no longer traverse it.

``WEBSOCKET_GC_THRESHOLD = None`` leaves the collector as Python set it.
"""

from __future__ import annotations

import gc

from django_asgi_ws.conf import get_settings

__all__ = ["tune_collector"]

_tuned = False


def tune_collector() -> None:
    """Apply ``WEBSOCKET_GC_THRESHOLD`` to this process, the first time only."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    threshold = get_settings().gc_threshold
    if threshold is None:
        return
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)
