"""The exceptions of the broadcast package; plain exceptions, free of the websocket layer."""

from __future__ import annotations

from typing import ClassVar

__all__ = ["BroadcastError", "SubscriberTooSlow"]


class BroadcastError(Exception):
    """A message could not be published: the broker is unreachable or refused it."""


class SubscriberTooSlow(Exception):
    """The queue overflowed under ``OVERFLOW = "close"``: the consumer must start over.

    A websocket view that lets it propagate closes its connection with
    :attr:`code` 1013 (try again later) and :attr:`reason`.
    """

    #: The close code for the consumer's connection: 1013, try again later.
    code: ClassVar[int] = 1013
    #: The close reason sent with it.
    reason: ClassVar[str] = "Too slow to receive broadcast messages."

    def __init__(self, queue_size: int) -> None:
        super().__init__(queue_size)
        #: The size of the queue that overflowed.
        self.queue_size = queue_size

    def __str__(self) -> str:
        return self.reason
