"""The client of ``idle_sockets.py``: idle websockets from one source address, in a process.

A picows client on uvloop. Every socket it opens binds ``--source`` (a
loopback address such as 127.0.0.2) as its local address, so that each client
process has the ~28,000 ephemeral ports of an address to itself. It obeys
JSON commands, one per line on standard input, and answers each with one line
of JSON on standard output:

- ``{"open": N}``: open sockets, ``--concurrency`` handshakes at a time, until
  N are open; answers how many are open, the errors (and the first one) and
  the seconds it took;
- ``{"publish": true}``: send one text message, the ``time.monotonic()`` of
  sending it, on the publisher socket (``--publish-url``, opened at start):
  the server publishes it to the group its idle sockets listen to;
- ``{"collect": S}``: wait until every idle socket received that message, or
  until S seconds pass without a new delivery; answers how many received it and
  each delivery's latency in seconds (publish to receipt: ``CLOCK_MONOTONIC``
  is one clock for every process of the machine);
- ``{"close": true}``: close every socket and exit.

Sockets the server closes are counted (``closed``); the client answers pings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from loadgen import raise_open_files_limit
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


class Fleet:
    """This process's idle sockets and what they received."""

    def __init__(self) -> None:
        self.transports: list[WSTransport] = []
        self.latencies: list[float] = []
        self.closed = 0
        self.errors = 0
        self.first_error = ""
        self.delivered = asyncio.Event()  # set on each delivery


class IdleListener(WSListener):
    """Holds its socket; records when a published message arrives."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            received = time.monotonic()
            self.fleet.latencies.append(received - float(frame.get_payload_as_ascii_text()))
            self.fleet.delivered.set()
        elif frame.msg_type is WSMsgType.CLOSE:
            self.fleet.closed += 1
            transport.disconnect()


def origin_of(url: str) -> str:
    return f"http://{urlsplit(url).netloc}"


async def open_until(fleet: Fleet, count: int, args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Origin": origin_of(args.url)}
    semaphore = asyncio.Semaphore(args.concurrency)
    errors_before = fleet.errors

    async def open_one() -> None:
        async with semaphore:
            try:
                transport, _ = await ws_connect(
                    lambda: IdleListener(fleet),
                    args.url,
                    extra_headers=headers,
                    local_addr=(args.source, 0),
                    websocket_handshake_timeout=30,
                )
            except Exception as exc:
                fleet.errors += 1
                fleet.first_error = fleet.first_error or f"{type(exc).__name__}: {exc}"
                return
            fleet.transports.append(transport)

    started = time.perf_counter()
    await asyncio.gather(*(open_one() for _ in range(count - len(fleet.transports))))
    return {
        "open": len(fleet.transports),
        "errors": fleet.errors - errors_before,
        "first_error": fleet.first_error,
        "seconds": time.perf_counter() - started,
        "closed": fleet.closed,
    }


async def collect(fleet: Fleet, quiet: float) -> dict[str, Any]:
    while len(fleet.latencies) < len(fleet.transports):
        fleet.delivered.clear()
        try:
            await asyncio.wait_for(fleet.delivered.wait(), quiet)
        except asyncio.TimeoutError:
            break
    return {"received": len(fleet.latencies), "latencies": fleet.latencies, "closed": fleet.closed}


async def close_all(fleet: Fleet) -> None:
    for transport in fleet.transports:
        transport.send_close(WSCloseCode.OK)
    await asyncio.gather(
        *(asyncio.wait_for(t.wait_disconnected(), 10) for t in fleet.transports),
        return_exceptions=True,
    )


async def serve_commands(args: argparse.Namespace) -> None:
    fleet = Fleet()
    publisher: WSTransport | None = None
    if args.publish_url:
        publisher, _ = await ws_connect(
            WSListener, args.publish_url, extra_headers={"Origin": origin_of(args.publish_url)}
        )
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command = json.loads(line)
        if "open" in command:
            answer(await open_until(fleet, int(command["open"]), args))
        elif "publish" in command:
            assert publisher is not None, "no --publish-url"
            publisher.send(WSMsgType.TEXT, repr(time.monotonic()).encode())
            answer({"published": True})
        elif "collect" in command:
            answer(await collect(fleet, float(command["collect"])))
        elif "close" in command:
            break
    await close_all(fleet)
    if publisher is not None:
        publisher.send_close(WSCloseCode.OK)
        publisher.disconnect()


def answer(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", required=True, help="the idle sockets' URL")
    parser.add_argument("--source", default="127.0.0.1", help="local address of every socket")
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes at a time")
    parser.add_argument("--publish-url", help="a websocket whose messages the server publishes")
    args = parser.parse_args()
    raise_open_files_limit()
    import uvloop

    uvloop.run(serve_commands(args))


if __name__ == "__main__":
    main()
