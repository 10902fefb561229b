"""The sequencer: per group with history, each message once and in order, gaps filled or marked.

Frames come in as a broker connection would hand them over, possibly
repeated, reordered around a gap, or after a reconnection; the history read
to fill gaps is a memory backend's, holding what was "published".
"""

from __future__ import annotations

import asyncio
from typing import Any

from django_asgi_ws.broadcast.backends.memory import MemoryBackend
from django_asgi_ws.broadcast.encoding import encode, parse, split_position, unpack, with_position
from django_asgi_ws.broadcast.history import HistoryRead, Position, validate_history
from django_asgi_ws.broadcast.sequencing import Sequencer

GROUP = "room-1"


class Harness:
    """A history to publish to, and a sequencer reading it, recording what it delivers."""

    def __init__(self, size: int = 100) -> None:
        self.history = MemoryBackend(
            history=validate_history({"room-*": {"SIZE": size, "TTL": 60}})
        )
        self.delivered: list[Any] = []
        self.sequencer = Sequencer(self.deliver, self.deliver_gap, self.read)
        self.sequencer.add(GROUP)

    async def read(self, group: str, after: Position | None) -> HistoryRead:
        policy = self.history.history.policy_for(group)
        assert policy is not None
        return await self.history._read_history(group, policy, after)

    def deliver(self, group: str, frame: bytes) -> None:
        self.delivered.append(parse(unpack(split_position(frame)[1])))

    def deliver_gap(self, group: str, position: str | None) -> None:
        self.delivered.append(("gap", position))

    async def publish(self, *numbers: int) -> list[bytes]:
        """Publish *numbers* to the history; the frames the broker would carry."""
        frames = []
        for number in numbers:
            position = await self.history.publish(GROUP, number)
            assert position is not None
            frames.append(with_position(position, encode(number)))
        return frames

    async def settle(self) -> None:
        for _ in range(10):
            await asyncio.sleep(0)


async def test_messages_in_order_are_delivered_and_repeats_dropped() -> None:
    harness = Harness()
    one, two = await harness.publish(1, 2)
    for frame in (one, two, one, two):
        harness.sequencer.received(GROUP, frame)
    assert harness.delivered == [1, 2]


async def test_a_hole_is_filled_from_the_history_before_what_came_after_it() -> None:
    harness = Harness()
    one, _, three, four = await harness.publish(1, 2, 3, 4)
    harness.sequencer.received(GROUP, one)
    harness.sequencer.received(GROUP, four)  # 2 and 3 never came
    harness.sequencer.received(GROUP, three)  # held while the history is read
    await harness.settle()
    assert harness.delivered == [1, 2, 3, 4]
    assert (harness.sequencer.filled, harness.sequencer.marked) == (1, 0)


async def test_a_hole_the_history_no_longer_holds_is_marked_once() -> None:
    harness = Harness(size=2)
    one, *_, five = await harness.publish(1, 2, 3, 4, 5)
    harness.sequencer.received(GROUP, one)
    harness.sequencer.received(GROUP, five)
    await harness.settle()
    [gap] = [item for item in harness.delivered if isinstance(item, tuple)]
    assert harness.delivered == [1, gap]  # 5 is at or before the gap's position
    assert gap[1].endswith("-0000000000000005")


async def test_after_a_reconnection_what_was_missed_comes_first() -> None:
    harness = Harness()
    one, _, three = await harness.publish(1, 2, 3)
    harness.sequencer.received(GROUP, one)
    harness.sequencer.reconnected()
    harness.sequencer.received(GROUP, three)  # live, while the history is read
    await harness.settle()
    assert harness.delivered == [1, 2, 3]


async def test_a_new_history_starting_at_one_continues_without_a_gap() -> None:
    """Redis dropped an idle history: its next message starts a new incarnation."""
    harness = Harness()
    [old] = await harness.publish(1)
    harness.sequencer.received(GROUP, old)
    fresh = Harness()
    [new] = await fresh.publish(2)
    harness.sequencer.received(GROUP, new)
    assert harness.delivered == [1, 2]


async def test_groups_without_history_pass_through() -> None:
    harness = Harness()
    harness.sequencer.received("plain", encode("x"))
    harness.sequencer.received("plain", encode("x"))
    assert harness.delivered == ["x", "x"]  # no position: nothing to order them by
