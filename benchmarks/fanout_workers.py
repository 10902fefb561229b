"""The processes of ``benchmarks/fanout.py``: subscribers, a publisher, or both in one.

Each measurement runs in fresh processes started by ``fanout.py`` (``spawn``),
talking to it over ``multiprocessing`` pipes:

- ``solo_main``: the in-process targets, publisher and subscribers on one loop;
- ``subscriber_main`` and ``publisher_main``: the cross-process targets. The
  subscriber process tells the publisher process, over a pipe of their own,
  when a message has reached every subscriber (the in-flight window's acks).

Nothing here asserts a timing: the figures go back to ``fanout.py``, which prints them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import struct
import sys
import time
import traceback
from array import array
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

GROUP = "fanout"
MESSAGE_TYPE = "bench.message"  # Channels routes on "type"; the others carry it too
#: Queue sizes (our QUEUE_SIZE, Channels' capacity): far above what the window lets wait.
CAPACITY = 1_000_000
ACK = struct.Struct("=q")
#: Seconds without a delivery after which a missing one counts as lost.
QUIET = 2.0

Message = dict[str, Any]
Record = Callable[[Message], None]


@dataclass(frozen=True)
class Spec:
    """One measurement: the target and the burst, picklable for ``spawn``."""

    target: str
    subscribers: int
    window: int
    duration: float
    warmup: int
    min_messages: int
    max_messages: int
    prefix: str
    redis_url: str
    postgres_dsn: str
    uvloop: bool = False
    profiler: str = ""  # "pyinstrument" or "cprofile" around the burst (in-process only)
    publisher_core: int | None = None
    subscriber_core: int | None = None


# Bookkeeping on both sides ------------------------------------------------------


class Recorder:
    """What each subscriber's consumer does with a message: latency, counts, the ack."""

    def __init__(self, subscribers: int, ack: Callable[[int], None]) -> None:
        self.subscribers = subscribers
        self.ack = ack
        self.counts: dict[int, int] = {}
        self.latencies = array("d")
        self.last = 0.0  # receipt time of the last measured delivery
        self.seen = 0  # deliveries, warm-up included

    def record(self, message: Message) -> None:
        now = time.monotonic()
        number = message["i"]
        count = self.counts.get(number, 0) + 1
        self.counts[number] = count
        self.seen += 1
        if number >= 0:  # warm-up messages have negative numbers
            self.latencies.append(now - message["t"])
            self.last = now
        if count == self.subscribers:
            self.ack(number)

    def complete(self, messages: int) -> bool:
        counts = self.counts
        return all(counts.get(i, 0) >= self.subscribers for i in range(messages))

    async def settle(self, messages: int) -> None:
        """Return once every delivery of *messages* arrived, or none did for QUIET s."""
        seen, since = self.seen, time.monotonic()
        while not self.complete(messages):
            await asyncio.sleep(0.02)
            if self.seen != seen:
                seen, since = self.seen, time.monotonic()
            elif time.monotonic() - since > QUIET:
                return

    def summary(self, messages: int) -> dict[str, Any]:
        expected = self.subscribers
        received = missed = duplicates = 0
        for i in range(messages):
            count = self.counts.get(i, 0)
            received += min(count, expected)
            missed += max(0, expected - count)
            duplicates += max(0, count - expected)
        latencies = sorted(self.latencies)
        return {
            "received": received,
            "missed": missed,
            "duplicates": duplicates,
            "last": self.last,
            "p50": quantile(latencies, 0.50),
            "p99": quantile(latencies, 0.99),
        }


def quantile(ordered: list[float], q: float) -> float:
    """The *q* quantile of sorted *ordered* (nearest rank); NaN when empty."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


class Window:
    """At most ``size`` messages published and not yet delivered to every subscriber.

    ``acquire`` waits for room; a message not acknowledged within ``timeout``
    (one lost somewhere) is given up on, and counted in ``stalls``. After a
    stall the timeout drops to ``STALL_TIMEOUT``: a lossy target must not make
    the run last forever (its figures are flagged anyway).
    """

    STALL_TIMEOUT = 0.5

    def __init__(self, size: int, timeout: float) -> None:
        self.size = size
        self.timeout = timeout
        self.stalls = 0
        self._in_flight: dict[int, None] = {}  # ordered: the oldest first
        self._changed = asyncio.Event()

    def add(self, number: int) -> None:
        self._in_flight[number] = None

    def release(self, number: int) -> None:
        if self._in_flight.pop(number, 0) is None:
            self._changed.set()

    async def acquire(self, room: int = 1) -> None:
        """Wait until at most ``size - room`` messages are in flight."""
        limit = self.size - room
        loop = asyncio.get_running_loop()
        while len(self._in_flight) > limit:
            self._changed.clear()
            deadline = time.monotonic() + self.timeout
            timer = loop.call_at(loop.time() + self.timeout, self._changed.set)
            try:
                await self._changed.wait()
            finally:
                timer.cancel()
            if len(self._in_flight) > limit and time.monotonic() >= deadline:
                del self._in_flight[next(iter(self._in_flight))]
                self.stalls += 1
                self.timeout = min(self.timeout, self.STALL_TIMEOUT)

    async def drain(self) -> None:
        await self.acquire(room=self.size)


def pipe_acks(connection: Connection) -> Callable[[int], None]:
    """The subscriber side's ack: a message number through the pipe."""
    send = connection.send_bytes
    pack = ACK.pack
    return lambda number: send(pack(number))


def receive_acks(connection: Connection, window: Window) -> None:
    """On the publisher side, release the window as acks arrive through the pipe."""

    def readable() -> None:
        while connection.poll():
            (number,) = ACK.unpack(connection.recv_bytes())
            window.release(number)

    asyncio.get_running_loop().add_reader(connection.fileno(), readable)


async def consume(receive: Callable[[], Awaitable[Message]], record: Record) -> None:
    """One subscriber: every target's consumer task is this loop."""
    while True:
        message = await receive()
        if message["i"] is None:  # the stop sentinel
            return
        record(message)


async def publish_burst(target: Target, spec: Spec, window: Window) -> dict[str, Any]:
    """Warm up, then publish back-to-back within the window for ``spec.duration`` s."""
    # The first warm-up message is repeated until it arrives: a subscription a
    # broker has not taken into account yet (Redis pub/sub) would lose it.
    for _ in range(10):
        window.add(-1)
        await target.publish({"type": MESSAGE_TYPE, "i": -1, "t": time.monotonic()})
        timeout, window.timeout = window.timeout, 1.0
        await window.drain()
        window.timeout = timeout
        if not window.stalls:
            break
        window.stalls = 0
    else:
        raise RuntimeError("the subscribers never received the first warm-up message")
    for number in range(-2, -spec.warmup - 1, -1):
        await window.acquire()
        window.add(number)
        await target.publish({"type": MESSAGE_TYPE, "i": number, "t": time.monotonic()})
    await window.drain()
    window.stalls = 0

    start = time.monotonic()
    number = 0
    while number < spec.max_messages and (
        number < spec.min_messages or time.monotonic() - start < spec.duration
    ):
        await window.acquire()
        window.add(number)
        now = time.monotonic()
        if number == 0:
            start = now
        await target.publish({"type": MESSAGE_TYPE, "i": number, "t": now})
        number += 1
    published = time.monotonic()
    await window.drain()
    return {
        "messages": number,
        "start": start,
        "publish_seconds": published - start,
        "stalls": window.stalls,
    }


# Targets --------------------------------------------------------------------------


class Target:
    """One way of fanning a message out to ``count`` local subscribers."""

    async def open(self) -> None:
        """Connect, as a publisher or a subscriber process would at startup."""

    async def subscribe(self, count: int, record: Record) -> None:
        """Create ``count`` subscribers, each with a consumer task calling *record*."""
        raise NotImplementedError

    async def publish(self, message: Message) -> None:
        raise NotImplementedError

    def dropped(self) -> int:
        """Messages the target itself counted as dropped (full queues)."""
        return 0

    async def close(self) -> None:
        pass

    def _start(self, receivers: list[Callable[[], Awaitable[Message]]], record: Record) -> None:
        self.tasks = [asyncio.ensure_future(consume(receive, record)) for receive in receivers]

    async def _stop(self) -> None:
        for task in getattr(self, "tasks", ()):
            task.cancel()
        await asyncio.gather(*getattr(self, "tasks", ()), return_exceptions=True)


class Bare(Target):
    """No framework: one asyncio.Queue per subscriber, a loop putting into each."""

    async def subscribe(self, count: int, record: Record) -> None:
        self.queues: list[asyncio.Queue[Message]] = [asyncio.Queue() for _ in range(count)]
        self._start([queue.get for queue in self.queues], record)

    async def publish(self, message: Message) -> None:
        for queue in self.queues:
            queue.put_nowait(message)

    async def close(self) -> None:
        await self._stop()


class Ours(Target):
    """django_asgi_ws.broadcast through its public API, as the setting configures it."""

    def __init__(self, config: dict[str, Any]) -> None:
        configure_django(config)
        from django_asgi_ws import broadcast

        self.broadcast = broadcast
        self.subscriptions: list[Any] = []
        self.stack = contextlib.AsyncExitStack()

    async def open(self) -> None:
        await self.broadcast.get_backend().ping()

    async def subscribe(self, count: int, record: Record) -> None:
        for _ in range(count):
            subscription = self.broadcast.subscribe(GROUP)
            self.subscriptions.append(await self.stack.enter_async_context(subscription))
        self._start([subscription.get for subscription in self.subscriptions], record)

    async def publish(self, message: Message) -> None:
        await self.broadcast.publish(GROUP, message)

    def dropped(self) -> int:
        return sum(subscription.dropped for subscription in self.subscriptions)

    async def close(self) -> None:
        await self._stop()
        await self.stack.aclose()
        await self.broadcast.aclose()


class ChannelsLayer(Target):
    """A Channels layer: a channel per subscriber, added to the group, ``receive`` in a loop."""

    def __init__(self, factory: Callable[[], Any], *, flush: bool) -> None:
        configure_django({})
        self.layer = factory()
        self.flush = flush
        self.names: list[str] = []

    async def subscribe(self, count: int, record: Record) -> None:
        for _ in range(count):
            name = await self.layer.new_channel()
            await self.layer.group_add(GROUP, name)
            self.names.append(name)
        self._start([functools.partial(self.layer.receive, name) for name in self.names], record)

    async def publish(self, message: Message) -> None:
        await self.layer.group_send(GROUP, message)

    async def close(self) -> None:
        if self.names:
            # Let the consumers return rather than cancelling them in the middle of
            # a receive (channels_redis then waits out its 5 s BZPOPMIN timeout).
            await self.layer.group_send(GROUP, {"type": MESSAGE_TYPE, "i": None, "t": 0.0})
            await asyncio.wait(self.tasks, timeout=2.0)
        await self._stop()
        if self.flush and self.names:
            # The subscriber side: delete the keys of the prefix, close the connections.
            await self.layer.flush()
        elif hasattr(self.layer, "close_pools"):
            await self.layer.close_pools()
        else:
            await self.layer.flush()  # pub/sub layer: only closes its connections


def make_target(spec: Spec) -> Target:
    prefix = spec.prefix
    ours = {"QUEUE_SIZE": CAPACITY, "OVERFLOW": "drop_oldest", "PREFIX": prefix + ":"}
    if spec.target == "bare":
        return Bare()
    if spec.target == "ours-memory":
        return Ours({"BACKEND": "django_asgi_ws.broadcast.backends.memory.MemoryBackend", **ours})
    if spec.target == "ours-redis":
        backend = "django_asgi_ws.broadcast.backends.redis.RedisBackend"
        return Ours({"BACKEND": backend, "LOCATION": spec.redis_url, **ours})
    if spec.target == "ours-postgres":
        backend = "django_asgi_ws.broadcast.backends.postgres.PostgresBackend"
        return Ours({"BACKEND": backend, "LOCATION": spec.postgres_dsn, **ours})
    if spec.target == "channels-memory":
        from channels.layers import InMemoryChannelLayer

        return ChannelsLayer(lambda: InMemoryChannelLayer(capacity=CAPACITY), flush=False)
    if spec.target == "channels-redis":
        from channels_redis.core import RedisChannelLayer

        return ChannelsLayer(
            lambda: RedisChannelLayer(
                hosts=[spec.redis_url], prefix=prefix, capacity=CAPACITY, expiry=600
            ),
            flush=True,
        )
    if spec.target == "channels-redis-pubsub":
        from channels_redis.pubsub import RedisPubSubChannelLayer

        return ChannelsLayer(
            lambda: RedisPubSubChannelLayer(hosts=[spec.redis_url], prefix=prefix), flush=True
        )
    raise ValueError(f"unknown target {spec.target!r}")


def configure_django(broadcast: dict[str, Any]) -> None:
    from django.conf import settings

    if settings.configured:
        return
    settings.configure(
        INSTALLED_APPS=[],
        USE_TZ=True,
        WEBSOCKET_BROADCAST=broadcast
        or {"BACKEND": "django_asgi_ws.broadcast.backends.memory.MemoryBackend"},
    )
    import django

    django.setup()


# Process entry points ---------------------------------------------------------------


def pin(core: int | None) -> None:
    if core is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {core})


def run(spec: Spec, control: Connection, main: Coroutine[Any, Any, None]) -> None:
    try:
        if spec.uvloop:
            import uvloop

            uvloop.run(main)
        else:
            asyncio.run(main)
    except BaseException:
        control.send(("error", traceback.format_exc()))
        sys.exit(1)
    finally:
        control.close()


async def receive(control: Connection) -> Any:
    """The next control message, without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, control.recv)


def solo_main(spec: Spec, control: Connection) -> None:
    pin(spec.subscriber_core)
    run(spec, control, solo(spec, control))


async def solo(spec: Spec, control: Connection) -> None:
    target = make_target(spec)
    await target.open()
    window = Window(spec.window, timeout=5.0)
    recorder = Recorder(spec.subscribers, window.release)
    await target.subscribe(spec.subscribers, recorder.record)
    profiler = start_profiler(spec.profiler) if spec.profiler else None
    burst = await publish_burst(target, spec, window)
    profile = stop_profiler(profiler) if profiler is not None else None
    await recorder.settle(burst["messages"])
    result = {**burst, **recorder.summary(burst["messages"]), "dropped": target.dropped()}
    await target.close()
    control.send(("result", {**result, "profile": profile}))


def subscriber_main(spec: Spec, control: Connection, acks: Connection) -> None:
    pin(spec.subscriber_core)
    run(spec, control, subscriber(spec, control, acks))


async def subscriber(spec: Spec, control: Connection, acks: Connection) -> None:
    target = make_target(spec)
    await target.open()
    recorder = Recorder(spec.subscribers, pipe_acks(acks))
    await target.subscribe(spec.subscribers, recorder.record)
    control.send(("ready", None))
    command, messages = await receive(control)
    assert command == "finish"
    await recorder.settle(messages)
    result = {**recorder.summary(messages), "dropped": target.dropped()}
    await target.close()
    control.send(("result", result))


def publisher_main(spec: Spec, control: Connection, acks: Connection) -> None:
    pin(spec.publisher_core)
    run(spec, control, publisher(spec, control, acks))


async def publisher(spec: Spec, control: Connection, acks: Connection) -> None:
    target = make_target(spec)
    await target.open()
    window = Window(spec.window, timeout=5.0)
    receive_acks(acks, window)
    control.send(("ready", None))
    command, _ = await receive(control)
    assert command == "go"
    burst = await publish_burst(target, spec, window)
    asyncio.get_running_loop().remove_reader(acks.fileno())
    await target.close()
    control.send(("result", burst))


# Profiling ----------------------------------------------------------------------------


def start_profiler(kind: str) -> Any:
    if kind == "cprofile":
        import cProfile

        profiler: Any = cProfile.Profile()
        profiler.enable()
        return profiler
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    return profiler


def stop_profiler(profiler: Any) -> str:
    if hasattr(profiler, "enable"):  # cProfile
        import io
        import pstats

        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
        return out.getvalue()
    profiler.stop()
    return str(profiler.output_text(unicode=False, color=False, show_all=False))
