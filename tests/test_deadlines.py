"""One timer per event loop expires every handshake that took too long."""

from __future__ import annotations

import asyncio

from django_asgi_ws import deadlines
from django_asgi_ws.deadlines import Deadlines


async def test_keys_expire_in_order_after_the_timeout() -> None:
    expired: list[str] = []
    timer: Deadlines[str] = Deadlines(asyncio.get_running_loop(), 0.05, expired.append)
    timer.add("first")
    await asyncio.sleep(0.02)
    timer.add("second")
    await asyncio.sleep(0.04)
    assert expired == ["first"]
    await asyncio.sleep(0.04)
    assert expired == ["first", "second"]
    assert len(timer) == 0


async def test_a_discarded_key_never_expires() -> None:
    expired: list[str] = []
    timer: Deadlines[str] = Deadlines(asyncio.get_running_loop(), 0.03, expired.append)
    timer.add("answered")
    timer.add("slow")
    timer.discard("answered")
    timer.discard("never added")
    await asyncio.sleep(0.06)
    assert expired == ["slow"]


async def test_the_timer_rearms_after_going_idle() -> None:
    expired: list[str] = []
    timer: Deadlines[str] = Deadlines(asyncio.get_running_loop(), 0.02, expired.append)
    timer.add("a")
    await asyncio.sleep(0.04)
    timer.add("b")
    await asyncio.sleep(0.04)
    assert expired == ["a", "b"]


async def test_one_instance_per_loop_and_timeout() -> None:
    loop = asyncio.get_running_loop()
    first = deadlines.for_loop(loop, 1.0, print)
    assert deadlines.for_loop(loop, 1.0, print) is first
    assert deadlines.for_loop(loop, 2.0, print) is not first
