"""One timer per event loop expires every handshake that took too long.

The deadlines run on a fake loop whose clock only moves when a test advances
it, so every expiry is checked at its exact moment, without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from django_asgi_ws import deadlines
from django_asgi_ws.deadlines import Deadlines

MOMENT = 2**-10  # a step of the clock that floating point adds up exactly


@dataclass
class FakeTimer:
    when: float
    callback: Callable[..., object]
    args: tuple[Any, ...]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeLoop:
    """The two methods of an event loop that Deadlines uses, on a clock moved by hand."""

    now: float = 1000.0
    timers: list[FakeTimer] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> FakeTimer:
        timer = FakeTimer(when, callback, args)
        self.timers.append(timer)
        return timer

    @property
    def armed(self) -> list[float]:
        """When each timer still to run is due."""
        return [timer.when for timer in self.timers if not timer.cancelled]

    def advance(self, seconds: float) -> None:
        """Move the clock on, running each timer due by then in order, as a loop would."""
        self.now += seconds
        for _ in range(10_000):
            due = [t for t in self.timers if not t.cancelled and t.when <= self.now]
            if not due:
                return
            timer = min(due, key=lambda t: t.when)
            self.timers.remove(timer)
            timer.callback(*timer.args)
        raise AssertionError("Timers kept rearming for a moment already past.")


@pytest.fixture
def loop() -> FakeLoop:
    return FakeLoop()


def deadlines_on(loop: FakeLoop, timeout: float, expired: list[str]) -> Deadlines[str]:
    return Deadlines(cast(asyncio.AbstractEventLoop, loop), timeout, expired.append)


def test_a_key_expires_exactly_timeout_seconds_after_it_was_added(loop: FakeLoop) -> None:
    expired: list[str] = []
    timer = deadlines_on(loop, 10.0, expired)
    timer.add("slow")
    loop.advance(10.0 - MOMENT)
    assert expired == []
    assert len(timer) == 1
    loop.advance(MOMENT)
    assert expired == ["slow"]
    assert len(timer) == 0


def test_keys_expire_in_the_order_they_were_added_each_at_its_own_deadline(
    loop: FakeLoop,
) -> None:
    expired: list[str] = []
    timer = deadlines_on(loop, 10.0, expired)
    timer.add("first")
    loop.advance(4.0)
    timer.add("second")
    loop.advance(6.0)
    assert expired == ["first"]
    loop.advance(4.0 - MOMENT)
    assert expired == ["first"]
    loop.advance(MOMENT)
    assert expired == ["first", "second"]
    assert len(timer) == 0


def test_keys_with_the_same_deadline_expire_together_in_order(loop: FakeLoop) -> None:
    expired: list[str] = []
    timer = deadlines_on(loop, 10.0, expired)
    for key in ("a", "b", "c"):
        timer.add(key)
    loop.advance(10.0)
    assert expired == ["a", "b", "c"]


def test_a_discarded_key_never_expires(loop: FakeLoop) -> None:
    expired: list[str] = []
    timer = deadlines_on(loop, 10.0, expired)
    timer.add("answered")
    timer.add("slow")
    timer.discard("answered")
    timer.discard("never added")
    assert len(timer) == 1
    loop.advance(60.0)
    assert expired == ["slow"]


def test_one_timer_is_armed_for_the_oldest_deadline_whatever_the_number_of_keys(
    loop: FakeLoop,
) -> None:
    expired: list[str] = []
    timer = deadlines_on(loop, 10.0, expired)
    start = loop.now
    for number in range(100):
        timer.add(f"key {number}")
        loop.advance(MOMENT)
    assert loop.armed == [start + 10.0]
    loop.advance(10.0 - 100 * MOMENT)
    assert expired == ["key 0"]
    assert loop.armed == [start + 10.0 + MOMENT]  # rearmed for the next oldest only


def test_the_timer_is_rearmed_by_the_first_key_after_all_expired(loop: FakeLoop) -> None:
    expired: list[str] = []
    timer = deadlines_on(loop, 10.0, expired)
    timer.add("a")
    loop.advance(10.0)
    assert (expired, loop.armed) == (["a"], [])
    loop.advance(100.0)
    timer.add("b")
    assert loop.armed == [loop.now + 10.0]
    loop.advance(10.0)
    assert expired == ["a", "b"]


def test_a_timer_left_by_discarded_keys_fires_for_the_next_deadline_only(
    loop: FakeLoop,
) -> None:
    """The timer armed for a discarded key's deadline expires nothing early."""
    expired: list[str] = []
    timer = deadlines_on(loop, 10.0, expired)
    timer.add("answered")
    loop.advance(5.0)
    timer.add("slow")
    timer.discard("answered")
    loop.advance(5.0)  # the first key's deadline: the timer fires, and rearms
    assert expired == []
    assert loop.armed == [loop.now + 5.0]
    loop.advance(5.0)
    assert expired == ["slow"]


async def test_one_instance_per_loop_and_timeout() -> None:
    loop = asyncio.get_running_loop()
    first = deadlines.for_loop(loop, 1.0, print)
    assert deadlines.for_loop(loop, 1.0, print) is first
    assert deadlines.for_loop(loop, 2.0, print) is not first
