"""Fan-out over real sockets: one publisher's messages reaching N websocket subscribers.

Every target is a real server process (uvicorn or daphne, started as
``serving.py`` starts them, or through our production entry points) pinned to
one core, with a client process of its own (picows on uvloop, as ``loadgen.py``)
pinned to the other. The client opens ``--subscribers`` websockets, 50
handshakes at a time, and a publisher socket sending 64-byte text messages (a
sequence number and the client's ``perf_counter_ns``, padded), which the server
sends on to every subscriber. Closed loop: the next message goes out once all N
deliveries of the previous one arrived (``--window W``: W in flight). Latency:
per delivery, publish to receipt, on the client's one clock.

Targets, keyed ``stack-server[-layer][-entry]`` (``benchmarks/README.md`` lists
them): ``bare``, a raw ASGI app awaiting each subscriber's ``send`` in turn (the
limit); ``ours-view`` (a ``WebSocketView`` whose own ``on_group_message``
calls ``send_text``), ``ours-function`` (``broadcast.subscribe`` and
``broadcast.listen``), ``ours-tutorial`` (the default ``on_group_message``)
and ``ours-relay`` (``listen(forward=True)``), with the memory backend,
``-redis``, ``-postgres`` (one process, through the broker) or ``-entry``
(through ``django_asgi_ws.servers``); ``django-socket`` and ``channels`` with
their group APIs, in memory or ``-redis``. Projects: ``site/benchsite``.

All servers stay up, sockets open, for the whole run; in each round every target
in turn (the order rotated from round to round) gets ``--warmup`` unmeasured
messages, then ``--seconds`` of publishing. Deliveries missing after 5 s without
progress count as lost; losses, duplicates and subscribers closed by the server
are flagged with ⚠. Nothing is asserted. Run from the repository root with the
benchmark venv (``benchmarks/README.md``)::

    python benchmarks/fanout_sockets.py              # every target, 1,000 subscribers, 3 rounds
    python benchmarks/fanout_sockets.py --smoke      # every target, 20 subscribers
    python benchmarks/fanout_sockets.py --subscribers 10000 \\
        --targets bare-uvicorn ours-view-uvicorn ours-function-uvicorn
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from deploy import read_json, tell
from loadgen import cpu_seconds, emit, origin_of, raise_open_files_limit
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect
from serving import ROOT, SITE, cores, free_port, wait_for_port

ENTRY = "django_asgi_ws.servers"
OPENING = 50  # handshakes in flight while the subscribers connect
STALL = 5.0  # seconds without a delivery after which what is missing counts as lost
SIZE = 64
FLAGS = ("lost", "duplicates", "closed")
OURS = ("benchsite.asgi_ours:application", "benchsite.settings_fanout")
# stack: (ASGI application, settings module, route prefix)
STACKS: dict[str, tuple[str, str | None, str]] = {
    "bare": ("bare_fanout:app", None, "/ws/"),
    "ours-view": (*OURS, "/ws/view/"),
    "ours-function": (*OURS, "/ws/function/"),
    "ours-tutorial": (*OURS, "/ws/tutorial/"),
    "ours-relay": (*OURS, "/ws/relay/"),
    "django-socket": ("benchsite.asgi_django_socket:application",
                      "benchsite.settings_fanout_django_socket", "/ws/"),
    "channels": ("benchsite.asgi_fanout_channels:application",
                 "benchsite.settings_fanout_channels", "/ws/"),
}  # fmt: skip


@dataclass(frozen=True)
class Target:
    stack: str
    server: str  # "uvicorn" or "daphne"
    layer: str = "memory"  # or "redis", "postgres"
    entry: bool = False  # served through django_asgi_ws.servers

    @property
    def key(self) -> str:
        layer = "" if self.layer == "memory" else f"-{self.layer}"
        return f"{self.stack}-{self.server}{layer}{'-entry' if self.entry else ''}"

    @property
    def needs(self) -> list[str]:
        modules = [self.server]
        if self.stack in ("channels", "django-socket"):
            modules.append(self.stack.replace("-", "_"))
        if self.layer != "memory":
            broker = "channels_redis" if self.stack == "channels" else "redis"
            modules.append("psycopg" if self.layer == "postgres" else broker)
        return modules


def all_targets() -> list[Target]:
    targets = []
    for server in ("uvicorn", "daphne"):
        targets.append(Target("bare", server))
        for stack in ("ours-view", "ours-function"):
            targets += [Target(stack, server, layer) for layer in ("memory", "redis", "postgres")]
            targets.append(Target(stack, server, entry=True))
        for stack in ("ours-tutorial", "ours-relay"):
            targets += [Target(stack, server), Target(stack, server, entry=True)]
        for stack in ("django-socket", "channels"):
            targets += [Target(stack, server, layer) for layer in ("memory", "redis")]
    return targets


BY_KEY = {target.key: target for target in all_targets()}


# The client (run with --client, on the other core) ---------------------------------------


class Fanout:
    """The client side of one target: the publisher, the deliveries, one clock."""

    def __init__(self) -> None:
        self.subscribers = self.sequence = 0
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
        self.pending[self.sequence] = self.subscribers
        payload = f"{self.sequence:08d}{time.perf_counter_ns():020d}".encode().ljust(SIZE, b"x")
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

    async def measure(self, seconds: float, window: int, warmup: int, pid: int) -> dict[str, Any]:
        self.reset()
        for _ in range(warmup):
            await self.span(0, 1)
        self.deliveries, self.latencies = 0, []
        cpu_before, started = cpu_seconds(pid), time.perf_counter_ns()
        await self.span(seconds, window)
        elapsed = max(self.last_done - started, 1) / 1e9
        cpu_after, latencies = cpu_seconds(pid), sorted(self.latencies)
        result: dict[str, Any] = {"rate": self.deliveries / elapsed, "seconds": elapsed,
                                  "deliveries": self.deliveries, "lost": self.lost,
                                  "duplicates": self.duplicates, "closed": self.closed}  # fmt: skip
        for name, q in (("p50_ms", 0.50), ("p99_ms", 0.99)) if latencies else ():
            result[name] = latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1e6
        if cpu_before is not None and cpu_after is not None and self.deliveries:
            result["cpu_us"] = (cpu_after - cpu_before) / self.deliveries * 1e6
        return result


class Subscriber(WSListener):  # type: ignore[misc]
    def __init__(self, fanout: Fanout) -> None:
        self.fanout = fanout
        self.last = 0  # the last sequence number received

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            self.fanout.deliver(self, frame.get_payload_as_bytes())
        elif frame.msg_type is WSMsgType.CLOSE:
            self.fanout.closed += 1
            transport.disconnect()


async def client(base: str, pid: int, count: int) -> None:
    """Open *count* subscribers and the publisher, warm up, then measure on each command."""
    fanout, headers = Fanout(), {"Origin": origin_of(base)}
    gate, transports, failed = asyncio.Semaphore(OPENING), [], 0

    async def open_one() -> None:
        nonlocal failed
        async with gate:
            try:
                transport, _ = await ws_connect(
                    lambda: Subscriber(fanout), base + "fanout/", extra_headers=headers
                )
                transports.append(transport)
            except Exception:
                failed += 1

    await asyncio.gather(*(open_one() for _ in range(count)))
    fanout.subscribers = len(transports)
    fanout.publisher, _ = await ws_connect(WSListener, base + "publish/", extra_headers=headers)
    transports.append(fanout.publisher)
    for _ in range(5):  # every code path and cache, before anything counts
        await fanout.span(0, 1)
    emit({"open": fanout.subscribers, "failed": failed, "lost": fanout.lost})
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        seconds, window, warmup = line.split()
        emit(await fanout.measure(float(seconds), int(window), int(warmup), pid))
    for transport in transports:
        transport.send_close(WSCloseCode.OK)
    await asyncio.gather(
        *(asyncio.wait_for(t.wait_disconnected(), 10) for t in transports), return_exceptions=True
    )


def run_client(argv: list[str]) -> None:
    raise_open_files_limit()
    coroutine = client(argv[0], int(argv[1]), int(argv[2]))
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


# Servers and their clients ----------------------------------------------------------------


def server_command(target: Target, port: int) -> list[str]:
    app, python = STACKS[target.stack][0], [sys.executable, "-m"]
    if target.server == "daphne":
        daphne = f"{ENTRY}.daphne" if target.entry else "daphne"
        return [*python, daphne, app, "-b", "127.0.0.1", "-p", str(port), "-v", "0"]
    entry = ["--ws", f"{ENTRY}.uvicorn:WebSocketProtocol",
             "--http", f"{ENTRY}.uvicorn:HTTPProtocol"] if target.entry else []  # fmt: skip
    return [*python, "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", *entry]  # fmt: skip


def stop(process: subprocess.Popen[Any], timeout: float = 10, *, ask: bool = False) -> None:
    """End *process*: SIGTERM (with *ask*, closing its standard input instead), then SIGKILL."""
    if ask and process.stdin:
        with contextlib.suppress(OSError):
            process.stdin.close()  # the client closes its sockets and exits
    elif process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running(target: Target, args: argparse.Namespace) -> Iterator[subprocess.Popen[str]]:
    """The target's server and its client, subscribers open; both stopped on the way out."""
    server_pin, client_pin = args.pins
    port = free_port()
    location = args.postgres_dsn if target.layer == "postgres" else args.redis_url
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(SITE)]),
           "FANOUT_LAYER": target.layer, "FANOUT_LOCATION": location,
           "FANOUT_PREFIX": f"fanout-{port}:"}  # fmt: skip
    if settings := STACKS[target.stack][1]:
        env["DJANGO_SETTINGS_MODULE"] = settings
    log_path = Path(tempfile.gettempdir()) / f"fanout-sockets-{target.key}-{port}.log"

    def name_or_forget_log() -> None:
        if log_path.stat().st_size:
            log(f"{target.key}: the server's output is in {log_path}")
        else:
            log_path.unlink()

    with ExitStack() as stack:
        log_file = stack.enter_context(open(log_path, "wb"))
        stack.callback(name_or_forget_log)
        server = subprocess.Popen(
            [*server_pin, *server_command(target, port)], cwd=SITE, env=env,
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
        stack.callback(stop, server)
        wait_for_port(port, server)
        command = [*client_pin, sys.executable, str(Path(__file__).resolve()), "--client",
                   f"ws://127.0.0.1:{port}{STACKS[target.stack][2]}", str(server.pid),
                   str(args.subscribers)]  # fmt: skip
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        stack.callback(stop, process, 30, ask=True)
        ready = read_json(process, 60 + args.subscribers / 50)
        if ready["failed"] or ready["lost"]:
            log(f"{target.key}: {ready['failed']} subscriber(s) failed to open, "
                f"{ready['lost']} warm-up deliveries lost")  # fmt: skip
        log(f"{target.key}: {ready['open']:,} subscribers open")
        yield process


def why_unavailable(target: Target, args: argparse.Namespace) -> str | None:
    for module in target.needs:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -r benchmarks/requirements.txt)"
    if target.layer != "memory":
        url = urlsplit(args.postgres_dsn if target.layer == "postgres" else args.redis_url)
        default_port = 5432 if target.layer == "postgres" else 6379
        host, port = url.hostname or "127.0.0.1", url.port or default_port
        try:
            socket.create_connection((host, port), timeout=2).close()
        except OSError as exc:
            return f"nothing answers at {host}:{port} ({exc})"
    return None


# Measurements and reporting ----------------------------------------------------------------


Live = tuple[Target, "subprocess.Popen[str]"]  # a target up, and its client


def measure(args: argparse.Namespace, lives: list[Live]) -> list[dict[str, Any]]:
    """Per round: {target key: result}, every target measured in turn, the order rotated."""
    rounds: list[dict[str, Any]] = []
    failed: set[str] = set()
    for number in range(args.rounds):
        results: dict[str, Any] = {}
        shift = number % len(lives)
        for target, client in lives[shift:] + lives[:shift]:
            if (key := target.key) in failed:
                continue
            try:
                tell(client, f"{args.seconds} {args.window} {args.warmup}")
                result = results[key] = read_json(client, args.seconds + 300)
            except Exception as exc:
                failed.add(key)
                log(f"round {number + 1}: {key} FAILED: {exc}")
                continue
            flags = "".join(f", {result[flag]} {flag}" for flag in FLAGS if result[flag])
            p50, p99 = result.get("p50_ms", 0), result.get("p99_ms", 0)
            log(f"round {number + 1}/{args.rounds} {key:32} {result['rate']:>10,.0f}/s, "
                f"p50 {p50:.2f} ms, p99 {p99:.2f} ms{flags}")  # fmt: skip
        rounds.append(results)
    return rounds


def median_of(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def summarize(rounds: list[dict[str, Any]], targets: list[Target]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for target in targets:
        mine = [r[target.key] for r in rounds if target.key in r]
        if not mine:
            continue
        bare = f"bare-{target.server}"
        ratios = [r[target.key]["rate"] / r[bare]["rate"] for r in rounds
                  if target.key in r and r.get(bare, {}).get("rate")]  # fmt: skip
        summary[target.key] = {
            "rates": [m["rate"] for m in mine],
            "median": statistics.median(m["rate"] for m in mine),
            "vs_bare": median_of(ratios),
            **{name: median_of([m.get(name) for m in mine]) for name in ("p50_ms", "p99_ms")},
            "cpu_us": median_of([m.get("cpu_us") for m in mine]),
            "lost": sum(m["lost"] for m in mine),
            "duplicates": sum(m["duplicates"] for m in mine),
            "closed": max(m["closed"] for m in mine),  # a count since the start
        }
    return summary


def table(summary: dict[str, Any]) -> list[str]:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} ms"

    lines = [
        "| target | deliveries/s (each round) | vs bare | p50 | p99 |",
        "|---|---:|---:|---:|---:|",
    ]
    notes = []
    for key, row in summary.items():
        rounds = ", ".join(f"{rate:,.0f}" for rate in row["rates"])
        if problems := ", ".join(f"{row[flag]:,} {flag}" for flag in FLAGS if row[flag]):
            notes.append(f"⚠ {key}: {problems}")
        ratio = "-" if row["vs_bare"] is None else f"{row['vs_bare']:.2f}x"
        lines.append(f"| {key} | {row['median']:,.0f}{' ⚠' if problems else ''} ({rounds}) | "
                     f"{ratio} | {ms(row['p50_ms'])} | {ms(row['p99_ms'])} |")  # fmt: skip
    return lines + (["", *notes] if notes else [])


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--targets", nargs="*", choices=list(BY_KEY), default=list(BY_KEY))
    parser.add_argument("--subscribers", type=int, help="default 1000 (smoke 20)")
    parser.add_argument("--rounds", type=int, help="default 3 (smoke 1)")
    parser.add_argument("--seconds", type=float, help="per target and round; default 2 (smoke 0.3)")
    parser.add_argument("--window", type=int, default=1, help="messages in flight; default 1")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured messages per round")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--postgres-dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--smoke", action="store_true", help="every target, tiny sizes")
    parser.add_argument("--json", metavar="FILE", help="also write the rounds and summary to FILE")
    args = parser.parse_args(argv)
    for name, small, full in (("subscribers", 20, 1000), ("rounds", 1, 3), ("seconds", 0.3, 2.0)):
        if getattr(args, name) is None:
            setattr(args, name, small if args.smoke else full)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_files_limit()  # the servers inherit it
    args.pins = cores()
    targets = []
    for target in (BY_KEY[key] for key in args.targets):
        if reason := why_unavailable(target, args):
            log(f"Skipping {target.key}: {reason}.")
        else:
            targets.append(target)
    started, failures, lives = time.monotonic(), 0, []
    with ExitStack() as stack:
        for target in targets:
            try:
                lives.append((target, stack.enter_context(running(target, args))))
            except Exception as exc:
                failures += 1
                log(f"{target.key} FAILED to start: {exc}")
        rounds = measure(args, lives) if lives else []
    failures += sum(1 for target, _ in lives if not any(target.key in r for r in rounds))
    summary = summarize(rounds, targets)
    pins = ", ".join(pin[-1] for pin in args.pins if pin) or "unpinned"
    header = (
        f"Fan-out over sockets: {args.subscribers:,} subscribers, {SIZE}-byte messages, window "
        f"{args.window}, {args.rounds} interleaved round(s) of {args.seconds:g} s per target; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores (server, client: {pins}). "
        "Median deliveries/s (each round's in brackets), the median of the per-round ratios "
        "to bare ASGI on the same server, the medians of each round's delivery latency "
        "p50 and p99 (publish to receipt)."
    )
    print("\n" + "\n".join([header, "", *table(summary)]))
    print(f"\nin {time.monotonic() - started:.1f} s")
    if args.json:
        arguments = {k: v for k, v in vars(args).items() if k != "pins"}
        document = {"args": arguments, "rounds": rounds, "summary": summary}
        Path(args.json).write_text(json.dumps(document, indent=1), encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        run_client(sys.argv[2:])
    else:
        sys.exit(main())
