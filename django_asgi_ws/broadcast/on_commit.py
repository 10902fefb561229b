"""Publishing once a database transaction commits, and not at all if it rolls back.

A page that hears of a write before it is committed may read the database
and not find it, and one that hears of a write that was rolled back shows
something that never happened. ``publish_on_commit`` waits for the commit.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.db import transaction

from django_asgi_ws.broadcast.encoding import encode
from django_asgi_ws.broadcast.loading import get_backend
from django_asgi_ws.broadcast.options import validate_group

logger = logging.getLogger("django_asgi_ws.broadcast")

# Publications started from an event loop, kept until done (a task nobody
# references may be collected before it runs).
_sending: set[asyncio.Task[Any]] = set()


def publish_on_commit(group: str, message: Any, using: str | None = None) -> None:
    """Publish *message* to *group* once the transaction of database *using* commits.

    Nothing is published if it rolls back (a savepoint rolled back drops what
    was registered in it). Outside a transaction, publishes at once. The
    message is encoded now: a TypeError or ValueError is raised here, and
    changing it afterwards changes nothing. Once committed, a publish that
    fails is logged (on the ``django.db.backends.base`` logger), not raised:
    the write happened. From async code, where Django runs no transaction,
    the message is published at once, in a task of the event loop.
    """
    group = validate_group(group)
    frame = encode(message)
    backend = get_backend()

    def send() -> None:
        if _running_loop() is None:
            backend.publish_encoded_sync(group, frame)
            return
        task = asyncio.ensure_future(backend.publish_encoded(group, frame))
        _sending.add(task)
        task.add_done_callback(_sent)

    connection = transaction.get_connection(using)
    if _running_loop() is not None and not connection.in_atomic_block:
        # In async code: asking whether the connection is in autocommit mode
        # would use it, which Django forbids here.
        send()
        return
    transaction.on_commit(send, using=using, robust=True)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _sent(task: asyncio.Task[Any]) -> None:
    _sending.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("A message published on commit could not be sent.", exc_info=task.exception())
