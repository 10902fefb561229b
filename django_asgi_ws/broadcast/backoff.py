"""Delays between reconnection attempts to a broker."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays between reconnection attempts: doubling from *initial* up to *maximum*.

    Each delay is drawn between half and all of its nominal value, so that
    processes that lost the broker together do not come back in lockstep.
    """

    def __init__(
        self, initial: float, maximum: float, rng: Callable[[], float] = random.random
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.attempts = 0
        self._rng = rng

    def next(self) -> float:
        nominal = min(self.maximum, self.initial * 2.0**self.attempts)
        self.attempts += 1
        return nominal * (0.5 + 0.5 * self._rng())

    def reset(self) -> None:
        self.attempts = 0
