"""The client of ``fanout_sockets.py``: subscribers, a publisher, one clock.

Run by ``fanout_sockets.py`` in a process of its own, pinned to the core the
server does not use (picows on uvloop, as ``loadgen.py``)::

    python benchmarks/fanout_client.py URL SERVER_PID SUBSCRIBERS STALLED FILL

It opens SUBSCRIBERS websockets at ``URL + "fanout/"``, 50 handshakes at a
time, and a publisher at ``URL + "publish/"``, warms up, then prints one JSON
line; after that, each line ``SECONDS WINDOW WARMUP`` read from standard input
is a measurement, answered by one JSON line. End of input: it closes its
sockets and exits.

STALLED subscribers, spread evenly over the ones opened, stop reading after
the warm-up (their transport's ``pause_reading()``) and never read again. The
others, the readers, are the ones counted: a message is complete once every
reader got it.

With FILL (1), before answering ready, the client publishes messages of
``FILL_SIZE`` bytes: at least ``FILL_MINIMUM``, and until the stalled sockets'
kernel buffers (the server's send queue and the client's receive queue, from
``/proc/net/tcp``) stop growing; then ``FILL`` more, for whatever the server
holds in memory (a transport's buffer, a subscription's queue) to fill as
well. A server with stalled subscribers is thus measured in its steady state,
not while it still has room; large messages fill megabytes in seconds (the
measured ones are of 64 bytes). ``fanout_sockets.py`` has the client of the
same target without stalled subscribers fill too, so that the readers'
sockets, whose kernel buffers grow under large messages, are alike in both.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from fanout_proc import held_by_stalled, tree_cpu_seconds
from loadgen import emit, origin_of, raise_open_files_limit
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

OPENING = 50  # handshakes in flight while the subscribers connect
STALL = 5.0  # seconds without a delivery after which what is missing counts as lost
SIZE = 64
#: The size of the messages published to fill the stalled sockets' buffers: a
#: server's kernel send buffer grows to 4 MiB (tcp_wmem), 65,000 messages of 64
#: bytes, which 1,000 subscribers take minutes to receive; 256 of 16 KiB fill it.
FILL_SIZE = 16 * 1024
#: Messages published before the stalled sockets' kernel buffers are looked at:
#: 8 MiB, twice what a server's send buffer for one grows to.
FILL_MINIMUM = 512
#: Messages published once the stalled sockets' kernel buffers stopped growing:
#: more than a server's transport buffer holds (64 KiB) plus a subscription's
#: queue (100 messages).
FILL = 150
FILL_WINDOW = 16  # messages in flight while filling: fewer than a queue holds
FILL_LIMIT = 300.0  # seconds after which the filling gives up


class Fanout:
    """The publisher and the deliveries to the readers, on one clock."""

    def __init__(self) -> None:
        self.readers = self.sequence = 0
        self.size = SIZE  # of the messages published
        self.publisher: WSTransport | None = None
        self.pending: dict[int, int] = {}  # sequence number: deliveries still to come
        self.stop_at = 0  # perf_counter_ns after which nothing new is published
        self.done = asyncio.Event()
        self.closed = 0  # subscribers the server closed, since the start
        self.reset()

    def reset(self) -> None:
        self.deliveries = self.lost = self.duplicates = self.last_done = 0
        self.latencies: list[int] = []

    def publish(self) -> None:
        assert self.publisher is not None
        self.sequence += 1
        self.pending[self.sequence] = self.readers
        stamp = f"{self.sequence:08d}{time.perf_counter_ns():020d}".encode()
        payload = stamp.ljust(self.size, b"x")
        self.publisher.send(WSMsgType.TEXT, payload)

    def deliver(self, subscriber: Subscriber, payload: bytes) -> None:
        if payload[:1] == b'"':  # sent on as JSON (ours-tutorial)
            payload = payload[1:]
        now, sequence = time.perf_counter_ns(), int(payload[:8])
        if sequence <= subscriber.last:
            self.duplicates += 1
            return
        subscriber.last = sequence
        left = self.pending.get(sequence)
        if left is None:  # already given up as lost
            return
        self.deliveries += 1
        self.latencies.append(now - int(payload[8:28]))
        if left > 1:
            self.pending[sequence] = left - 1
            return
        del self.pending[sequence]
        self.last_done = now
        if now < self.stop_at:
            self.publish()
        elif not self.pending:
            self.done.set()

    async def span(self, seconds: float, window: int) -> None:
        """Publish for *seconds*, *window* messages in flight; return once all arrived or lost."""
        self.done.clear()
        self.stop_at = time.perf_counter_ns() + int(seconds * 1e9)
        for _ in range(window):
            self.publish()
        while not self.done.is_set():
            progress = self.deliveries
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.done.wait(), STALL)
            if not self.done.is_set() and self.deliveries == progress:
                self.lost += sum(self.pending.values())
                self.pending.clear()
                return


class Subscriber(WSListener):  # type: ignore[misc]
    def __init__(self, fanout: Fanout) -> None:
        self.fanout = fanout
        self.last = 0  # the last sequence number received
        self.reading = True

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if not self.reading:  # frames parsed before the pause: not counted
            return
        if frame.msg_type is WSMsgType.TEXT:
            self.fanout.deliver(self, frame.get_payload_as_bytes())
        elif frame.msg_type is WSMsgType.CLOSE:
            self.fanout.closed += 1
            transport.disconnect()


class Client:
    """One target's sockets: open, stall some, measure on command, close."""

    def __init__(self, base: str, pid: int) -> None:
        self.base, self.pid = base, pid
        self.server_port = urlsplit(base).port or 80
        self.fanout = Fanout()
        self.subscribers: list[tuple[WSTransport, Subscriber]] = []
        self.stalled_ports: set[int] = set()
        self.failed = 0

    async def open(self, count: int) -> None:
        gate, headers = asyncio.Semaphore(OPENING), {"Origin": origin_of(self.base)}

        async def open_one() -> None:
            async with gate:
                try:
                    self.subscribers.append(
                        await ws_connect(lambda: Subscriber(self.fanout), self.base + "fanout/",
                                         extra_headers=headers)
                    )  # fmt: skip
                except Exception:
                    self.failed += 1

        await asyncio.gather(*(open_one() for _ in range(count)))
        self.fanout.readers = len(self.subscribers)
        self.fanout.publisher, _ = await ws_connect(
            WSListener, self.base + "publish/", extra_headers=headers
        )

    def stall(self, count: int) -> None:
        """Stop reading on *count* subscribers spread over the ones open, for good."""
        if not count:
            return
        step = len(self.subscribers) / count
        for index in range(count):
            transport, subscriber = self.subscribers[int(index * step)]
            transport.underlying_transport.pause_reading()
            subscriber.reading = False
            self.stalled_ports.add(transport.underlying_transport.get_extra_info("sockname")[1])
        self.fanout.readers -= count

    def stalled_state(self) -> dict[str, Any]:
        if not self.stalled_ports:
            return {}
        held, waiting = held_by_stalled(self.server_port, self.stalled_ports)
        return {"stalled_held": held, "stalled_kib": waiting / 1024}

    async def fill(self) -> int:
        """Publish until the stalled sockets' kernel buffers are full, then FILL more."""
        fanout, started, first = self.fanout, time.monotonic(), self.fanout.sequence
        last, steady, extra_until = -1, 0, None
        fanout.size = FILL_SIZE
        while time.monotonic() - started < FILL_LIMIT and not fanout.lost:
            await fanout.span(0.2, FILL_WINDOW)
            if fanout.sequence - first < FILL_MINIMUM:
                continue
            if extra_until is None:
                waiting = held_by_stalled(self.server_port, self.stalled_ports)[1]
                steady = steady + 1 if waiting <= last else 0
                last = max(last, waiting)
                if steady >= 3:
                    extra_until = fanout.sequence + FILL
            elif fanout.sequence >= extra_until:
                break
        fanout.size = SIZE
        return fanout.sequence - first

    async def measure(self, seconds: float, window: int, warmup: int) -> dict[str, Any]:
        fanout = self.fanout
        fanout.reset()
        for _ in range(warmup):
            await fanout.span(0, 1)
        fanout.deliveries, fanout.latencies = 0, []
        before = self.stalled_state()
        cpu_before, started = tree_cpu_seconds(self.pid), time.perf_counter_ns()
        await fanout.span(seconds, window)
        elapsed = max(fanout.last_done - started, 1) / 1e9
        cpu_after, latencies = tree_cpu_seconds(self.pid), sorted(fanout.latencies)
        result: dict[str, Any] = {
            "rate": fanout.deliveries / elapsed, "seconds": elapsed,
            "deliveries": fanout.deliveries, "lost": fanout.lost,
            "duplicates": fanout.duplicates, "closed": fanout.closed,
        }  # fmt: skip
        for name, q in (("p50_ms", 0.50), ("p99_ms", 0.99)) if latencies else ():
            result[name] = latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1e6
        if cpu_before is not None and cpu_after is not None and fanout.deliveries:
            result["cpu_us"] = (cpu_after - cpu_before) / fanout.deliveries * 1e6
        if before:  # the least held and the least waiting, before and after
            after = self.stalled_state()
            result.update({name: min(before[name], after[name]) for name in before})
        return result

    async def close(self) -> None:
        transports = [t for t, subscriber in self.subscribers if subscriber.reading]
        if self.fanout.publisher is not None:
            transports.append(self.fanout.publisher)
        for transport in transports:
            transport.send_close(WSCloseCode.OK)
        for transport, subscriber in self.subscribers:
            if not subscriber.reading:  # it would never read the server's close frame
                transport.disconnect(graceful=False)
        await asyncio.gather(
            *(asyncio.wait_for(t.wait_disconnected(), 10) for t in transports),
            return_exceptions=True,
        )


async def client(base: str, pid: int, count: int, stalled: int, fill: bool) -> None:
    """Open, warm up, stall and fill, then measure on each command."""
    session = Client(base, pid)
    await session.open(count)
    for _ in range(5):  # every code path and cache, before anything counts
        await session.fanout.span(0, 1)
    session.stall(stalled)
    filled = await session.fill() if fill else 0
    emit({"open": len(session.subscribers), "failed": session.failed,
          "lost": session.fanout.lost, "filled": filled, **session.stalled_state()})  # fmt: skip
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        seconds, window, warmup = line.split()
        emit(await session.measure(float(seconds), int(window), int(warmup)))
    await session.close()


def main(argv: list[str]) -> None:
    raise_open_files_limit()
    coroutine = client(argv[0], int(argv[1]), int(argv[2]), int(argv[3]), argv[4] == "1")
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


if __name__ == "__main__":
    main(sys.argv[1:])
