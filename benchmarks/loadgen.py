"""The load generator: a picows client on uvloop, in a process of its own.

``serving.py`` runs it pinned to the core the servers do not use, and reads
JSON from its standard output. Throughput modes take several targets
(``--target URL SERVER_PID``, repeated) and measure them in interleaved
slices: in each of ``--rounds`` rounds, each target in turn (the order rotated
from round to round) gets the load alone for a short warm-up and then for
``--slice`` seconds, counted. A shared machine's noise comes and goes over
seconds; slices this short see each target under the same conditions as the
others, and the ratio of two targets in one round is what gets compared.

- ``echo``: ``--connections`` sockets per target, each keeping ``--inflight``
  text messages of ``--size`` bytes in flight while its target is active: every
  echo received sends the next message. Rate: round trips per second.
- ``handshake``: while its target is active, ``--connections`` loops each open
  a websocket and close it (close frame, the server's close frame, TCP closed)
  and start again. Rate: open-close cycles per second.
- ``hold`` (one target): opens sockets, ``--connections`` handshakes at once,
  until each count of ``--counts`` is open, then prints ``{"open": n}`` and
  waits for a line on standard input before going on; the caller reads the
  server's memory meanwhile. Closes everything at the end.

Each slice also records the server's CPU time per operation (``/proc``).
Every socket sends ``Origin`` as a browser on the server's own page would, so
the origin checks of the targets that have one do their real work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time a process has used so far (Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"


class Target:
    """One server under test, and what its sockets count."""

    def __init__(self, url: str, pid: int) -> None:
        self.url = url
        self.pid = pid
        self.headers = {"Origin": origin_of(url)}
        self.active = False  # its sockets send while it is the target measured
        self.counting = False
        self.count = 0
        self.errors = 0
        self.outstanding = 0  # echo messages sent, not yet answered
        self.drained = asyncio.Event()  # set when the last one is answered


class EchoListener(WSListener):
    """Sends the next message on each echo, while its target is active."""

    def __init__(self, target: Target, payload: bytes) -> None:
        self.target = target
        self.payload = payload
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def start(self, inflight: int) -> None:
        assert self.transport is not None
        for _ in range(inflight):
            self.transport.send(WSMsgType.TEXT, self.payload)
        self.target.outstanding += inflight

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        target = self.target
        if frame.msg_type is WSMsgType.TEXT:
            if target.counting:
                target.count += 1
            if target.active:
                transport.send(WSMsgType.TEXT, self.payload)
            else:
                target.outstanding -= 1
                if target.outstanding == 0:
                    target.drained.set()
        elif frame.msg_type is WSMsgType.CLOSE:
            target.errors += 1
            transport.disconnect()


class CloseListener(WSListener):
    """Answers nothing; ends the TCP connection once the server's close frame arrives."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.CLOSE:
            transport.disconnect()


async def count_slice(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, then count *target*'s operations for one slice."""
    await asyncio.sleep(args.slice_warmup)
    target.count, target.counting = 0, True
    errors_before = target.errors
    cpu_before = cpu_seconds(target.pid)
    started = time.perf_counter()
    await asyncio.sleep(args.slice)
    target.counting = False
    elapsed = time.perf_counter() - started
    cpu_after = cpu_seconds(target.pid)
    result: dict[str, Any] = {
        "rate": target.count / elapsed,
        "count": target.count,
        "errors": target.errors - errors_before,
    }
    if cpu_before is not None and cpu_after is not None and target.count:
        result["cpu_us"] = (cpu_after - cpu_before) / target.count * 1e6
    return result


async def echo_slice(
    target: Target, listeners: list[EchoListener], args: argparse.Namespace
) -> dict[str, Any]:
    target.active = True
    target.drained.clear()
    for listener in listeners:
        listener.start(args.inflight)
    try:
        return await count_slice(target, args)
    finally:
        target.active = False  # let the messages in flight come back before the next slice
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(target.drained.wait(), 5)


async def open_and_close(target: Target) -> None:
    transport, _listener = await ws_connect(CloseListener, target.url, extra_headers=target.headers)
    transport.send_close(WSCloseCode.OK)
    await transport.wait_disconnected()


async def handshake_slice(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    async def loop() -> None:
        while target.active:
            try:
                await open_and_close(target)
            except Exception:
                target.errors += 1
                await asyncio.sleep(0.01)
                continue
            if target.counting:
                target.count += 1

    target.active = True
    tasks = [asyncio.create_task(loop()) for _ in range(args.connections)]
    try:
        return await count_slice(target, args)
    finally:
        target.active = False
        await asyncio.gather(*tasks)


async def throughput(args: argparse.Namespace) -> dict[str, Any]:
    targets = [Target(url, int(pid)) for url, pid in args.target]
    payload = b"x" * args.size
    listeners: dict[Target, list[EchoListener]] = {}
    transports: list[WSTransport] = []
    if args.mode == "echo":
        for target in targets:
            listeners[target] = []
            for _ in range(args.connections):
                transport, listener = await ws_connect(
                    lambda target=target: EchoListener(target, payload),
                    target.url,
                    extra_headers=target.headers,
                )
                transports.append(transport)
                listeners[target].append(listener)

    async def one_slice(target: Target) -> dict[str, Any]:
        if args.mode == "echo":
            return await echo_slice(target, listeners[target], args)
        return await handshake_slice(target, args)

    for target in targets:  # warm-up: every code path and cache, before counting
        await one_slice(target)
    rounds = []
    for number in range(args.rounds):
        shift = number % len(targets)
        results = {}
        for target in targets[shift:] + targets[:shift]:
            results[target.url] = await one_slice(target)
        rounds.append(results)
    for transport in transports:
        transport.send_close(WSCloseCode.OK)
    await asyncio.gather(
        *(asyncio.wait_for(t.wait_disconnected(), 5) for t in transports), return_exceptions=True
    )
    return {"rounds": rounds}


async def hold(args: argparse.Namespace) -> None:
    ((url, _pid),) = args.target
    target = Target(url, 0)
    transports: list[WSTransport] = []
    errors = 0
    semaphore = asyncio.Semaphore(args.connections)

    async def open_one() -> None:
        nonlocal errors
        async with semaphore:
            try:
                transport, _listener = await ws_connect(
                    WSListener, target.url, extra_headers=target.headers
                )
            except Exception:
                errors += 1
                return
            transports.append(transport)

    loop = asyncio.get_running_loop()
    for count in sorted(args.counts):
        missing = count - len(transports)
        await asyncio.gather(*(open_one() for _ in range(missing)))
        emit({"open": len(transports), "errors": errors})
        await loop.run_in_executor(None, sys.stdin.readline)
    for transport in transports:
        transport.send_close(WSCloseCode.OK)
    await asyncio.gather(
        *(asyncio.wait_for(t.wait_disconnected(), 10) for t in transports), return_exceptions=True
    )


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("mode", choices=["echo", "handshake", "hold"])
    parser.add_argument(
        "--target", nargs=2, action="append", required=True, metavar=("URL", "SERVER_PID")
    )
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--inflight", type=int, default=1)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--slice", type=float, default=0.5, help="seconds counted per slice")
    parser.add_argument("--slice-warmup", type=float, default=0.1)
    parser.add_argument("--counts", type=int, nargs="*", default=[5000, 10000])
    args = parser.parse_args()
    if args.mode == "hold" and len(args.target) != 1:
        parser.error("hold takes one --target")
    return args


def main() -> None:
    args = parse_args()
    raise_open_files_limit()
    import uvloop

    if args.mode == "hold":
        uvloop.run(hold(args))
    else:
        emit(uvloop.run(throughput(args)))


if __name__ == "__main__":
    main()
