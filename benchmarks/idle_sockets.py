"""Idle websockets: how many one machine holds, and what each costs the server.

Two parts, every process on loopback, the servers pinned to one core and the
clients (``idle_client.py``, picows on uvloop, one process per loopback source
address 127.0.0.2, 127.0.0.3, ...) to the other:

- ``single``: one server process up to its open-file limit: ``--counts``
  (5,000, 10,000 and 19,000 by default, each capped at the hard
  ``RLIMIT_NOFILE`` less ``MARGIN``) idle sockets on ``ws/echo/`` of
  ``benchsite.asgi_ours`` (a view that accepts and waits for a message)
  through the uvicorn and daphne entry points, and on a raw ASGI app
  (``site/bare_echo.py``, which accepts and waits too) on plain uvicorn and
  daphne, and through the uvicorn entry point (``bare-uvicorn-entry``: what
  the entry point's protocols cost alone). A fresh, warmed-up server per
  target; at each count, the growth of its resident memory per socket since
  the warmed-up baseline, the ratio to bare on the same server at the same
  count, and the opens per second.
- ``workers``: the uvicorn entry point with ``--workers N`` (N such that each
  worker stays well under its file limit), the Redis broadcast backend
  (``benchsite.settings_fanout``, ``FANOUT_LAYER=redis``), ``--total`` idle
  subscribers of ``ws/view/fanout/`` (a ``WebSocketView`` with ``groups``);
  then one message published through ``ws/view/publish/``, which every
  subscriber must receive: the seconds from publishing to the last delivery,
  deliveries/s over that time, p50/p99 delivery latency, the opens per second,
  the resident memory of all the processes and per socket.

Bounded by ``--timeout`` (SIGALRM), it stops every process it started on the
way out, on an error or Ctrl-C too. Nothing is asserted. Run from the
repository root with the benchmark venv (``benchmarks/README.md``)::

    python benchmarks/idle_sockets.py                  # 19,000 per process; 100,000 over workers
    python benchmarks/idle_sockets.py --smoke          # 500 sockets; 5,000 over 2 workers
    python benchmarks/idle_sockets.py --parts workers --total 50000 --json idle.json
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from fanout_proc import collector_totals, sockets_per_process, wait_for_workers
from idle_fleet import clients, rss_kib, server, sources
from loadgen import raise_open_files_limit
from serving import cores, free_port

MARGIN = 1000  # files a server keeps for itself: its listening socket, Redis, imports
ENTRY = "django_asgi_ws.servers"
OURS = ("benchsite.asgi_ours:application", "benchsite.settings_ours", "/ws/echo/")
BARE = ("bare_echo:app", None, "/ws/echo/")
# The entry point reads the project's settings, even to serve a raw application.
BARE_ENTRY = ("bare_echo:app", "benchsite.settings_ours", "/ws/echo/")
TARGETS = {  # key: (server, stack, entry point?)
    "bare-uvicorn": ("uvicorn", BARE, False),
    "ours-uvicorn-entry": ("uvicorn", OURS, True),
    "bare-uvicorn-entry": ("uvicorn", BARE_ENTRY, True),
    "bare-daphne": ("daphne", BARE, False),
    "ours-daphne-entry": ("daphne", OURS, True),
}
REDIS = "redis://127.0.0.1:6379/0"


def server_command(kind: str, app: str, port: int, entry: bool, workers: int = 0) -> list[str]:
    if kind == "daphne":
        module = f"{ENTRY}.daphne" if entry else "daphne"
        return [sys.executable, "-m", module, app, "-b", "127.0.0.1", "-p", str(port), "-v", "0"]
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]  # fmt: skip
    if entry:
        command += ["--ws", f"{ENTRY}.uvicorn:WebSocketProtocol",
                    "--http", f"{ENTRY}.uvicorn:HTTPProtocol"]  # fmt: skip
    return command + (["--workers", str(workers)] if workers else [])


def warm_up(pin: list[str], url: str, count: int) -> None:
    """Open and close *count* sockets: every import and cache a connection needs."""
    with clients(pin, url, sources(1), 20) as warm:
        warm.open(count, timeout=60)
    time.sleep(1.0)


def measure_single(
    args: argparse.Namespace, key: str, pins: tuple[list[str], list[str]]
) -> dict[str, Any]:
    kind, (app, settings, path), entry = TARGETS[key]
    server_pin, client_pin = pins
    port = free_port()
    url = f"ws://127.0.0.1:{port}{path}"
    per_client = args.per_client
    result: dict[str, Any] = {"counts": {}}
    command = [*server_pin, *server_command(kind, app, port, entry)]
    # Ours times its collector (site/gc_pauses.py, imported by asgi_ours), asked by
    # SIGUSR1; bare does not, and would die of the signal.
    timed = app == OURS[0]
    gc_path = str(Path(tempfile.gettempdir()) / f"idle-gc-{port}.json") if timed else ""
    env = {"FANOUT_GC_FILE": gc_path} if gc_path else {}
    with server(key, command, port, settings, env) as process:
        warm_up(client_pin, url, 200)
        result["base_kib"] = base = rss_kib(process.pid)
        if timed:  # the longest pause counts from here
            timed = collector_totals(process.pid, gc_path) is not None
        fleet_sources = sources(math.ceil(max(args.counts) / per_client))
        with clients(client_pin, url, fleet_sources, args.concurrency) as fleet:
            opened = 0
            for count in args.counts:
                stage = fleet.open(count, timeout=args.timeout)
                time.sleep(args.settle)
                rss = rss_kib(process.pid)
                collector = collector_totals(process.pid, gc_path) if timed else None
                stage.update(
                    gc_longest_s=collector["longest"] if collector else None,
                    gc_collections=collector["collections"] if collector else None,
                    rss_kib=rss,
                    per_socket_kib=(rss - base) / max(stage["open"], 1),
                    opens_per_s=(stage["open"] - opened) / stage["seconds"],
                )
                opened = stage["open"]
                result["counts"][str(count)] = stage
                if collector:
                    log(
                        f"{key:20} longest collection {collector['longest'] * 1000:.0f} ms,"
                        f" collections per generation so far {collector['collections']}"
                    )
                log(f"{key:20} {stage['open']:>7,} open  {stage['per_socket_kib']:6.1f} KiB/socket"
                    f"  {stage['opens_per_s']:7,.0f} opens/s  {stage['errors']} errors"
                    + (f" ({stage['first_error']})" if stage["first_error"] else ""))  # fmt: skip
    return result


def measure_workers(args: argparse.Namespace, pins: tuple[list[str], list[str]]) -> dict[str, Any]:
    server_pin, client_pin = pins
    port = free_port()
    app, _, _ = OURS
    url = f"ws://127.0.0.1:{port}/ws/view/fanout/"
    publish_url = f"ws://127.0.0.1:{port}/ws/view/publish/"
    env = {"FANOUT_LAYER": "redis", "FANOUT_LOCATION": args.redis_url,
           "FANOUT_PREFIX": f"idle-{port}:"}  # fmt: skip
    command = [*server_pin, *server_command("uvicorn", app, port, True, args.workers)]
    result: dict[str, Any] = {"workers": args.workers, "total": args.total}
    with server("workers", command, port, "benchsite.settings_fanout", env) as process:
        wait_for_workers(process.pid, args.workers)
        warm_up(client_pin, url, 50 * args.workers)
        result["base_kib"] = base = rss_kib(process.pid)
        fleet_sources = sources(math.ceil(args.total / args.per_client))
        with clients(client_pin, url, fleet_sources, args.concurrency, publish_url) as fleet:
            stage = fleet.open(args.total, timeout=args.timeout)
            time.sleep(args.settle)
            rss = rss_kib(process.pid)
            split = sorted(sockets_per_process(process.pid, port), reverse=True)
            result.update(stage, rss_kib=rss, split=split,
                          per_socket_kib=(rss - base) / max(stage["open"], 1),
                          opens_per_s=stage["open"] / stage["seconds"])  # fmt: skip
            log(f"workers: {stage['open']:,} open over {split}  "
                f"{result['per_socket_kib']:.1f} KiB/socket  {result['opens_per_s']:,.0f} opens/s"
                f"  {stage['errors']} errors {stage['first_error']}")  # fmt: skip
            fleet.send([{"publish": True}], timeout=30)
            answers = fleet.send([{"collect": args.quiet}] * len(fleet_sources), args.timeout)
            result.update(broadcast_figures(answers, stage["open"]))
            log(f"broadcast: {result['received']:,}/{stage['open']:,} received in "
                f"{result['last_s']:.2f} s: {result['deliveries_per_s']:,.0f}/s, "
                f"p99 {result['p99_ms']:.0f} ms")  # fmt: skip
    return result


def broadcast_figures(answers: list[dict[str, Any]], open_count: int) -> dict[str, Any]:
    latencies = sorted(latency for a in answers for latency in a["latencies"])
    if not latencies:
        return {"received": 0, "last_s": math.nan, "deliveries_per_s": 0.0,
                "p50_ms": math.nan, "p99_ms": math.nan, "closed_after": 0}  # fmt: skip
    last = latencies[-1]
    return {
        "received": len(latencies),
        "missing": open_count - len(latencies),
        "last_s": last,
        "deliveries_per_s": len(latencies) / last,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "closed_after": sum(a["closed"] for a in answers),
    }


# Reporting ------------------------------------------------------------------------------


def single_table(results: dict[str, Any], counts: list[int]) -> list[str]:
    lines = ["| target | open | server RSS MiB | KiB per socket | vs bare | opens/s "
             "| longest GC pause | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for key, result in results.items():
        reference = f"bare-{TARGETS[key][0]}"  # plain uvicorn or daphne
        bare = results.get(reference) if key != reference else None
        for count in map(str, counts):
            row = result["counts"].get(count)
            if row is None:
                continue
            mine = row["per_socket_kib"]
            theirs = bare["counts"].get(count, {}).get("per_socket_kib") if bare else None
            vs = f"{mine / theirs:.2f}x" if theirs else "-"
            pause = row.get("gc_longest_s")
            pause_text = "-" if pause is None else f"{pause * 1000:,.0f} ms"
            lines.append(f"| {key} | {row['open']:,} | {row['rss_kib'] / 1024:,.0f} | {mine:.1f} "
                         f"| {vs} | {row['opens_per_s']:,.0f} | {pause_text} "
                         f"| {row['errors']} |")  # fmt: skip
    return lines


def workers_table(result: dict[str, Any]) -> list[str]:
    split = ", ".join(f"{n:,}" for n in result["split"])
    return [
        "| workers | open (per worker) | opens/s | server RSS MiB | KiB per socket "
        "| received | publish to last delivery | deliveries/s | p50 | p99 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {result['workers']} | {result['open']:,} ({split}) "
        f"| {result['opens_per_s']:,.0f} | {result['rss_kib'] / 1024:,.0f} "
        f"| {result['per_socket_kib']:.1f} | {result['received']:,} | {result['last_s']:.2f} s "
        f"| {result['deliveries_per_s']:,.0f} | {result['p50_ms']:,.0f} ms "
        f"| {result['p99_ms']:,.0f} ms |",
    ]


# Command line ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--parts", nargs="*", choices=["single", "workers"],
                        default=["single", "workers"])  # fmt: skip
    parser.add_argument("--targets", nargs="*", choices=list(TARGETS), default=list(TARGETS))
    option = parser.add_argument
    option("--counts", type=int, nargs="*", help="default 5000 10000 19000 (smoke 500)")
    option("--total", type=int, help="sockets over workers; default 100000 (smoke 5000)")
    option("--workers", type=int, help="default: enough for 3/4 of the limit each")
    option("--per-client", type=int, default=12500, help="sockets per client process")
    option("--concurrency", type=int, default=100, help="handshakes at a time, per client")
    option("--settle", type=float, default=2.0, help="seconds before reading memory")
    option("--quiet", type=float, default=10.0, help="seconds without a delivery: broadcast over")
    option("--timeout", type=int, help="seconds for the whole run; default 1200 (smoke 120)")
    parser.add_argument("--redis-url", default=REDIS)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, well under a minute")
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    args = parser.parse_args(argv)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    limit = (1 << 20) if hard == resource.RLIM_INFINITY else hard - MARGIN
    args.limit = limit
    counts = args.counts or ([500] if args.smoke else [5000, 10000, 19000])
    args.counts = sorted({min(count, limit) for count in counts})
    args.total = args.total or (5000 if args.smoke else 100000)
    if args.workers is None:
        args.workers = max(2, math.ceil(args.total / (0.75 * limit)))
    args.per_client = min(args.per_client, limit)
    args.timeout = args.timeout or (120 if args.smoke else 1200)
    return args


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class TimedOut(Exception):
    pass


def on_alarm(signum: int, frame: FrameType | None) -> None:
    raise TimedOut("the run exceeded --timeout")


def on_term(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_files_limit()  # the servers and clients inherit it
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    signal.alarm(args.timeout)
    pins = cores()
    started = time.monotonic()
    document: dict[str, Any] = {"args": vars(args), "single": {}, "workers": None}
    lines = [
        f"Idle sockets: open-file limit {args.limit + MARGIN:,} per process "
        f"(counts capped at {args.limit:,}); Python {sys.version.split()[0]}.",
        "",
    ]
    failures = 0
    try:
        if "single" in args.parts:
            for key in args.targets:
                try:
                    document["single"][key] = measure_single(args, key, pins)
                except (RuntimeError, OSError) as exc:
                    failures += 1
                    log(f"{key} FAILED: {exc}")
        if "workers" in args.parts:
            try:
                document["workers"] = measure_workers(args, pins)
            except (RuntimeError, OSError) as exc:
                failures += 1
                log(f"workers FAILED: {exc}")
    except (TimedOut, KeyboardInterrupt) as exc:
        log(f"stopped: {str(exc) or 'interrupted'}; what was measured follows")
        failures += 1
    finally:
        signal.alarm(0)
    if document["single"]:
        lines += [*single_table(document["single"], args.counts), ""]
    if document["workers"]:
        lines += workers_table(document["workers"])
    print("\n" + "\n".join(lines))
    print(f"\nin {time.monotonic() - started:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(document, indent=1), encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
