"""Fan-out over real sockets: one publisher's messages reaching N websocket subscribers.

Every target is a real server process (uvicorn or daphne, started as
``serving.py`` starts them, or through our production entry points) pinned to
one core, with a client process of its own (``fanout_client.py``: picows on
uvloop, as ``loadgen.py``) pinned to the other. The client opens
``--subscribers`` websockets, 50 handshakes at a time, and a publisher socket
sending 64-byte text messages (a sequence number and the client's
``perf_counter_ns``, padded), which the server sends on to every subscriber.
Closed loop: the next message goes out once all N deliveries of the previous one
arrived (``--window W``: W in flight). Latency: per delivery, publish to
receipt, on the client's one clock.

Targets, keyed ``stack-server[-layer][-entry]`` (``benchmarks/README.md`` lists
them): ``bare``, a raw ASGI app awaiting each subscriber's ``send`` in turn (the
limit); ``ours-view`` (a ``WebSocketView`` whose own ``on_group_message``
calls ``send_text``), ``ours-function`` (``broadcast.subscribe`` and
``broadcast.listen``), ``ours-tutorial`` (the default ``on_group_message``)
and ``ours-relay`` (``listen(forward=True)``), with the memory backend,
``-redis``, ``-postgres`` (one process, through the broker) or ``-entry``
(through ``django_asgi_ws.servers``); ``-workers2``, through the uvicorn entry
point with ``--workers 2`` and a broker, the subscribers spread over both
processes by the kernel; ``django-socket`` and ``channels`` with their group
APIs, in memory or ``-redis``. Projects: ``site/benchsite``.

``--stalled N`` measures every target but bare a second time, on a server of
its own, whose client stops reading on N subscribers and fills the server's
buffers for them (``fanout_client.py`` says how) before the rounds start: the
figures are then the other subscribers', compared with the first server's in
the same round. Bare cannot be measured so: its loop awaits each send in turn,
and one socket that does not read stops every delivery.

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
    python benchmarks/fanout_sockets.py --stalled 10 --chart fanout.png \\
        --targets bare-uvicorn ours-view-uvicorn-entry ours-view-uvicorn-redis-workers2
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from deploy import read_json, tell
from fanout_client import FILL_LIMIT, SIZE
from fanout_proc import collector_totals, sockets_per_process, wait_for_workers
from fanout_report import FLAGS, chart, stalled_key, stalled_table, summarize, table
from loadgen import raise_open_files_limit
from serving import ROOT, SITE, cores, free_port, wait_for_port

ENTRY = "django_asgi_ws.servers"
CLIENT = Path(__file__).resolve().with_name("fanout_client.py")
#: With --stalled, every server pings once an hour: a subscriber that never
#: reads never answers a ping, and the default (20 s, then 20 s for the pong)
#: would close the stalled ones a minute into the run.
QUIET_PING = "3600"
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
    workers: int = 1  # processes (uvicorn --workers), through the entry point

    @property
    def key(self) -> str:
        layer = "" if self.layer == "memory" else f"-{self.layer}"
        if self.workers > 1:  # always through the entry point
            return f"{self.stack}-{self.server}{layer}-workers{self.workers}"
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
        if server == "uvicorn":  # daphne runs one process: it has no --workers
            targets += [Target(stack, server, layer, entry=True, workers=2)
                        for stack in ("ours-view", "ours-function")
                        for layer in ("redis", "postgres")]  # fmt: skip
    return targets


BY_KEY = {target.key: target for target in all_targets()}


# Servers and their clients ----------------------------------------------------------------


def server_command(target: Target, port: int, *, quiet_ping: bool = False) -> list[str]:
    app, python = STACKS[target.stack][0], [sys.executable, "-m"]
    if target.server == "daphne":
        daphne = f"{ENTRY}.daphne" if target.entry else "daphne"
        ping = ["--ping-interval", QUIET_PING] if quiet_ping else []
        return [*python, daphne, app, "-b", "127.0.0.1", "-p", str(port), "-v", "0", *ping]
    entry = ["--ws", f"{ENTRY}.uvicorn:WebSocketProtocol",
             "--http", f"{ENTRY}.uvicorn:HTTPProtocol"] if target.entry else []  # fmt: skip
    workers = ["--workers", str(target.workers)] if target.workers > 1 else []
    ping = ["--ws-ping-interval", QUIET_PING] if quiet_ping else []
    return [*python, "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", *entry, *workers, *ping]  # fmt: skip


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


def tell_if_ended(server: subprocess.Popen[Any], key: str) -> None:
    """Say so if the server ended before being stopped: its figures are not its own."""
    if (status := server.poll()) is not None:
        log(f"{key}: the server had ended before the end of the run, with status {status}")


@contextmanager
def running(target: Target, stalled: int, args: argparse.Namespace) -> Iterator[Live]:
    """The target's server and its client, subscribers open (*stalled* of them stalled and
    the server's buffers for them full); both stopped on the way out."""
    server_pin, client_pin = args.pins
    port = free_port()
    key = stalled_key(target.key, stalled) if stalled else target.key
    location = args.postgres_dsn if target.layer == "postgres" else args.redis_url
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(SITE)]),
           "FANOUT_LAYER": target.layer, "FANOUT_LOCATION": location,
           "FANOUT_PREFIX": f"fanout-{port}:"}  # fmt: skip
    if args.stalled:
        env["FANOUT_PING_INTERVAL"] = QUIET_PING  # the entry points read the settings'
    if settings := STACKS[target.stack][1]:
        env["DJANGO_SETTINGS_MODULE"] = settings
    log_path = Path(tempfile.gettempdir()) / f"fanout-sockets-{key}-{port}.log"
    gc_path = None
    if target.workers == 1:  # one process to ask; the workers' collectors are not timed
        gc_path = env["FANOUT_GC_FILE"] = f"{log_path.with_suffix('')}-gc.json"

    def name_or_forget_log() -> None:
        if log_path.stat().st_size:
            log(f"{key}: the server's output is in {log_path}")
        else:
            log_path.unlink()

    with ExitStack() as stack:
        log_file = stack.enter_context(open(log_path, "wb"))
        stack.callback(name_or_forget_log)
        command = server_command(target, port, quiet_ping=bool(args.stalled))
        server = subprocess.Popen(
            [*server_pin, *command], cwd=SITE, env=env,
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
        stack.callback(stop, server)
        stack.callback(tell_if_ended, server, key)
        if gc_path:
            stack.callback(forget, gc_path)
        wait_for_port(port, server)
        if target.workers > 1:
            wait_for_workers(server.pid, target.workers)
        command = [*client_pin, sys.executable, str(CLIENT),
                   f"ws://127.0.0.1:{port}{STACKS[target.stack][2]}", str(server.pid),
                   str(args.subscribers), str(stalled), str(int(bool(args.stalled)))]  # fmt: skip
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        stack.callback(stop, process, 30, ask=True)
        ready = read_json(process, 60 + args.subscribers / 50 + (FILL_LIMIT if args.stalled else 0))
        if ready["failed"] or ready["lost"]:
            log(f"{key}: {ready['failed']} subscriber(s) failed to open, "
                f"{ready['lost']} warm-up deliveries lost")  # fmt: skip
        opened = f"{key}: {ready['open']:,} subscribers open"
        if target.workers > 1:
            split = " + ".join(f"{n:,}" for n in sockets_per_process(server.pid, port))
            opened += f", the workers' sockets (the publisher's included): {split}"
        if args.stalled:
            opened += f", {stalled:,} stalled, then {ready['filled']:,} messages of 16 KiB"
        if stalled:
            opened += (f", {ready['stalled_held']:,} held by the server with "
                       f"{ready['stalled_kib']:,.0f} KiB in their kernel buffers")  # fmt: skip
        log(opened)
        yield Live(target, stalled, process, server.pid, gc_path)


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


@dataclass(frozen=True)
class Live:
    """A target up, with *stalled* subscribers that never read, and its client."""

    target: Target
    stalled: int
    client: subprocess.Popen[str]
    server_pid: int
    gc_path: str | None  # where the server's collector pauses are written, if timed

    @property
    def key(self) -> str:
        return stalled_key(self.target.key, self.stalled) if self.stalled else self.target.key


def measure(args: argparse.Namespace, lives: list[Live]) -> list[dict[str, Any]]:
    """Per round: {key: result}, every target measured in turn, the order rotated."""
    rounds: list[dict[str, Any]] = []
    failed: set[str] = set()
    for number in range(args.rounds):
        results: dict[str, Any] = {}
        shift = number % len(lives)
        for live in lives[shift:] + lives[:shift]:
            if (key := live.key) in failed:
                continue
            collector = live.gc_path and collector_totals(live.server_pid, live.gc_path)
            try:
                tell(live.client, f"{args.seconds} {args.window} {args.warmup}")
                result = results[key] = read_json(live.client, args.seconds + 300)
            except Exception as exc:
                failed.add(key)
                log(f"round {number + 1}: {key} FAILED: {exc}")
                continue
            if collector and (after := collector_totals(live.server_pid, live.gc_path)):
                # The collector's share of the span, and its longest pause in it.
                spent = after["seconds"] - collector["seconds"]
                result["gc_share"] = spent / result["seconds"]
                result["gc_longest_ms"] = after["longest"] * 1e3
            flags = "".join(f", {result[flag]} {flag}" for flag in FLAGS if result[flag])
            p50, p99 = result.get("p50_ms", 0), result.get("p99_ms", 0)
            log(f"round {number + 1}/{args.rounds} {key:40} {result['rate']:>10,.0f}/s, "
                f"p50 {p50:.2f} ms, p99 {p99:.2f} ms{flags}")  # fmt: skip
        rounds.append(results)
    return rounds


def forget(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


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
    parser.add_argument(
        "--stalled",
        type=int,
        default=0,
        metavar="N",
        help="also measure each target with N subscribers that never read",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the rounds and summary to FILE")
    parser.add_argument("--chart", metavar="FILE", help="draw the ratios to bare in FILE (PNG)")
    args = parser.parse_args(argv)
    for name, small, full in (("subscribers", 20, 1000), ("rounds", 1, 3), ("seconds", 0.3, 2.0)):
        if getattr(args, name) is None:
            setattr(args, name, small if args.smoke else full)
    if not 0 <= args.stalled < args.subscribers:
        parser.error("--stalled must be at least 0 and fewer than --subscribers")
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
            stalls = [0]
            if args.stalled and target.stack == "bare":
                log(f"{target.key}: not measured with stalled subscribers (its loop awaits "
                    "each send in turn: one socket that does not read stops them all)")  # fmt: skip
            elif args.stalled:
                stalls.append(args.stalled)
            for stalled in stalls:
                try:
                    lives.append(stack.enter_context(running(target, stalled, args)))
                except Exception as exc:
                    failures += 1
                    log(f"{target.key} FAILED to start ({stalled} stalled): {exc}")
        rounds = measure(args, lives) if lives else []
    failures += sum(1 for live in lives if not any(live.key in r for r in rounds))
    summary = summarize(rounds, [(t.key, t.server) for t in targets], args.stalled)
    header, stalled_header = describe(args), describe_stalled(args) if args.stalled else None
    lines = [header, "", *table(summary)]
    if stalled_lines := stalled_table(summary, args.subscribers):
        lines += ["", stalled_header or "", "", *stalled_lines]
    print("\n" + "\n".join(lines))
    print(f"\nin {time.monotonic() - started:.1f} s")
    if args.json:
        arguments = {k: v for k, v in vars(args).items() if k != "pins"}
        document = {"args": arguments, "header": header, "stalled_header": stalled_header,
                    "rounds": rounds, "summary": summary}  # fmt: skip
        Path(args.json).write_text(json.dumps(document, indent=1), encoding="utf-8")
    if args.chart and summary:
        title = f"Fan-out over sockets to {args.subscribers:,} subscribers"
        chart(summary, Path(args.chart), title)
    return 1 if failures else 0


def describe(args: argparse.Namespace) -> str:
    pins = ", ".join(pin[-1] for pin in args.pins if pin) or "unpinned"
    return (
        f"Fan-out over sockets: {args.subscribers:,} subscribers, {SIZE}-byte messages, window "
        f"{args.window}, {args.rounds} interleaved round(s) of {args.seconds:g} s per target; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores (server, client: {pins}). "
        "Median deliveries/s (each round's in brackets), the median of the per-round ratios "
        "to bare ASGI on the same server, the medians of each round's delivery latency "
        "p50 and p99 (publish to receipt), and the server's CPU time per delivery (with "
        "--workers, of every worker; the broker's not included)."
    )


def describe_stalled(args: argparse.Namespace) -> str:
    readers = args.subscribers - args.stalled
    return (
        f"With {args.stalled:,} of the {args.subscribers:,} subscribers never reading: each "
        "target also runs as a second server whose client stopped reading on that many "
        "sockets and published until the server's buffers for them were full (every "
        "client of the run published about as many 16 KiB messages first); in the same "
        f"rounds, deliveries/s to the {readers:,} others, the median of the per-round ratios "
        "to the same target with every subscriber reading, the messages lost to the readers, "
        "and how many stalled sockets the server still held (the least over the rounds; "
        f"every server pings once every {QUIET_PING} s so that none is closed for not "
        "answering)."
    )


if __name__ == "__main__":
    sys.exit(main())
