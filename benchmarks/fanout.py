"""Fan-out: one publish reaching 1,000 local subscribers, ours against bare asyncio and Channels.

Targets, each measured in fresh processes:

- ``bare``: no framework, the limit: 1,000 ``asyncio.Queue``, a loop putting
  each message into each, a consumer task per queue;
- ``ours-memory``: ``broadcast.publish`` / ``broadcast.subscribe`` with the
  MemoryBackend, 1,000 subscriptions each with a consumer task calling ``get()``;
- ``channels-memory``: Channels 4 ``group_send`` with the InMemoryChannelLayer,
  1,000 channels added to a group, a consumer task per channel calling
  ``layer.receive(channel)``;
- across two processes (publisher in one, the 1,000 subscribers of one group in
  the other): ``ours-redis`` (RedisBackend), ``ours-postgres`` (PostgresBackend,
  LISTEN/NOTIFY), ``channels-redis`` (channels_redis' RedisChannelLayer, the core
  layer) and ``channels-redis-pubsub`` (its RedisPubSubChannelLayer).

The burst, the same for every target: after a warm-up, messages are published
back-to-back for ``--duration`` seconds (at least ``--min-messages``), with at
most ``--window`` messages in flight: message *n* is published only once
message *n - window* has reached all subscribers (in process, the consumer
that completes a message releases the window; across processes, the
subscriber process sends that ack to the publisher over a pipe). A slow target
thus publishes fewer messages in the same time instead of piling them up, and
no queue ever holds more than ``window`` messages. Queue sizes (our QUEUE_SIZE,
Channels' ``capacity``) are nonetheless raised far above that, so that nothing
is dropped; every missed delivery is still counted (and a message missed by
anyone stalls the window until a 5 s timeout, counted too), and figures with
losses are flagged.

Each message carries its number and its publish timestamp (``time.monotonic()``,
system-wide on Linux, so comparable across processes), taken just before the
publish call. Each subscriber's consumer takes the time at receipt:

- deliveries/s: measured deliveries over the time from the first measured
  publish to the last receipt;
- p50 / p99: over every measured delivery, publish to receipt. With up to
  ``window`` messages in flight, it includes waiting behind the earlier
  messages' fan-out: about ``window`` times the time one message takes to
  reach everyone, under full load.

Single-process targets run pinned to one core; in the cross-process targets the
subscriber process is pinned to that same core and the publisher to the other
(Redis and PostgreSQL are left unpinned). Targets are interleaved, in a
rotating order, in each of ``--repeats`` rounds; the table gives medians, and
the ratios are medians of the ratios of each round. No timing is ever asserted.

Run from the repository root with the benchmark venv (``benchmarks/README.md``)::

    python benchmarks/fanout.py                   # 1,000 subscribers, 3 rounds
    python benchmarks/fanout.py --smoke           # every target, tiny sizes, a few seconds
    python benchmarks/fanout.py --markdown fanout.md
    python benchmarks/fanout.py --profile ours-memory   # pyinstrument of our in-process path
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import socket
import statistics
import sys
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import fanout_workers as workers
from fanout_workers import Spec


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    cross_process: bool
    needs: tuple[str, ...]  # "channels", "channels_redis", "redis", "postgres"


TARGETS = [
    Target("bare", "bare asyncio.Queue fan-out (in process)", False, ()),
    Target("ours-memory", "ours, MemoryBackend (in process)", False, ()),
    Target("channels-memory", "Channels InMemoryChannelLayer (in process)", False, ("channels",)),
    Target("ours-redis", "ours, RedisBackend (2 processes)", True, ("redis",)),
    Target("ours-postgres", "ours, PostgresBackend (2 processes)", True, ("postgres",)),
    Target(
        "channels-redis",
        "channels_redis RedisChannelLayer (2 processes)",
        True,
        ("channels", "channels_redis", "redis"),
    ),
    Target(
        "channels-redis-pubsub",
        "channels_redis RedisPubSubChannelLayer (2 processes)",
        True,
        ("channels", "channels_redis", "redis"),
    ),
]
BY_KEY = {target.key: target for target in TARGETS}
BARE, CHANNELS_MEMORY, CHANNELS_REDIS = "bare", "channels-memory", "channels-redis"


# Availability ----------------------------------------------------------------------


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def why_unavailable(target: Target, args: argparse.Namespace) -> str | None:
    """None if *target* can run here, else why its row is skipped."""
    for need in target.needs:
        if need in ("channels", "channels_redis") and importlib.util.find_spec(need) is None:
            package = need.replace("_", "-")
            return f"{package} is not installed (pip install -r benchmarks/requirements.txt)"
        if need == "redis":
            if importlib.util.find_spec("redis") is None:
                return "redis is not installed"
            url = urlsplit(args.redis_url)
            if not reachable(url.hostname or "127.0.0.1", url.port or 6379):
                return f"no Redis answers at {args.redis_url}"
        if need == "postgres":
            if importlib.util.find_spec("psycopg") is None:
                return "psycopg is not installed"
            url = urlsplit(args.postgres_dsn)
            if not reachable(url.hostname or "127.0.0.1", url.port or 5432):
                return f"no PostgreSQL answers at {args.postgres_dsn}"
    return None


# Running one measurement ----------------------------------------------------------------


class RunFailed(Exception):
    pass


def expect(connection: Any, kind: str, timeout: float, process: Any) -> Any:
    """The payload of the next control message, which must be *kind*."""
    deadline = time.monotonic() + timeout
    while not connection.poll(0.1):
        if time.monotonic() > deadline:
            raise RunFailed(f"no {kind!r} within {timeout:g} s")
        if not process.is_alive() and not connection.poll(0):
            raise RunFailed(f"the process exited ({process.exitcode}) before {kind!r}")
    message, payload = connection.recv()
    if message == "error":
        raise RunFailed(payload)
    if message != kind:
        raise RunFailed(f"expected {kind!r}, got {message!r}")
    return payload


def run_once(spec: Spec, cross_process: bool) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    timeout = 60 + spec.duration * 4
    processes = []
    try:
        if not cross_process:
            control, child = context.Pipe()
            solo = context.Process(target=workers.solo_main, args=(spec, child), daemon=True)
            processes.append(solo)
            solo.start()
            child.close()
            return dict(expect(control, "result", timeout, solo))
        sub_control, sub_child = context.Pipe()
        pub_control, pub_child = context.Pipe()
        acks_reader, acks_writer = context.Pipe(duplex=False)
        sub = context.Process(
            target=workers.subscriber_main, args=(spec, sub_child, acks_writer), daemon=True
        )
        pub = context.Process(
            target=workers.publisher_main, args=(spec, pub_child, acks_reader), daemon=True
        )
        processes += [sub, pub]
        sub.start()
        pub.start()
        for connection in (sub_child, pub_child, acks_reader, acks_writer):
            connection.close()
        expect(sub_control, "ready", timeout, sub)
        expect(pub_control, "ready", timeout, pub)
        pub_control.send(("go", None))
        burst = expect(pub_control, "result", timeout, pub)
        sub_control.send(("finish", burst["messages"]))
        return {**burst, **expect(sub_control, "result", timeout, sub)}
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join(5)


def measure(spec: Spec, target: Target) -> dict[str, Any]:
    result = run_once(spec, target.cross_process)
    elapsed = result["last"] - result["start"]
    result["rate"] = result["received"] / elapsed if elapsed > 0 else 0.0
    result["lossy"] = bool(result["missed"] or result["duplicates"] or result["dropped"])
    return result


# Reporting ---------------------------------------------------------------------------


def median_ratio(rounds: list[dict[str, dict[str, Any]]], key: str, reference: str) -> float | None:
    ratios = [
        results[key]["rate"] / results[reference]["rate"]
        for results in rounds
        if key in results and reference in results and results[reference]["rate"] > 0
    ]
    return statistics.median(ratios) if ratios else None


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def table(rounds: list[dict[str, dict[str, Any]]], targets: list[Target]) -> list[str]:
    lines = [
        "| target | deliveries/s (median) | p50 ms | p99 ms | vs bare | vs Channels in-memory "
        "| vs channels_redis | msgs/round | losses |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for target in targets:
        results = [results[target.key] for results in rounds if target.key in results]
        if not results:
            continue
        rate = statistics.median(result["rate"] for result in results)
        p50 = statistics.median(result["p50"] for result in results) * 1000
        p99 = statistics.median(result["p99"] for result in results) * 1000
        messages = statistics.median(result["messages"] for result in results)
        missed = sum(result["missed"] for result in results)
        dropped = sum(result["dropped"] for result in results)
        duplicates = sum(result["duplicates"] for result in results)
        stalls = sum(result["stalls"] for result in results)
        lossy = any(result["lossy"] for result in results)
        losses = "0"
        if lossy or stalls:
            losses = (
                f"**LOSSY**: {missed} missed, {dropped} dropped, {duplicates} duplicated, "
                f"{stalls} window stalls"
            )
        figure = f"{rate:,.0f}" + (" ⚠" if lossy else "")
        vs_redis = (
            ratio(median_ratio(rounds, target.key, CHANNELS_REDIS)) if target.cross_process else "-"
        )
        lines.append(
            f"| {target.label} | {figure} | {p50:.2f} | {p99:.2f} "
            f"| {ratio(median_ratio(rounds, target.key, BARE))} "
            f"| {ratio(median_ratio(rounds, target.key, CHANNELS_MEMORY))} "
            f"| {vs_redis} | {messages:,.0f} | {losses} |"
        )
    return lines


def summarize(rounds: list[dict[str, dict[str, Any]]], targets: list[Target]) -> dict[str, Any]:
    """Per target: the medians and the median ratios of the table, for other programs."""
    summary: dict[str, Any] = {}
    for target in targets:
        results = [results[target.key] for results in rounds if target.key in results]
        if not results:
            continue
        summary[target.key] = {
            "label": target.label,
            "rate": statistics.median(result["rate"] for result in results),
            "p50_ms": statistics.median(result["p50"] for result in results) * 1000,
            "p99_ms": statistics.median(result["p99"] for result in results) * 1000,
            "vs_bare": median_ratio(rounds, target.key, BARE),
            "vs_channels_memory": median_ratio(rounds, target.key, CHANNELS_MEMORY),
            "vs_channels_redis": median_ratio(rounds, target.key, CHANNELS_REDIS),
            "lossy": any(result["lossy"] for result in results),
        }
    return summary


# Command line -----------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=None, help="default 1000 (smoke 20)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds; default 3 (smoke 1)")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds of publishing per measurement; default 1.5 (smoke 0.05)",
    )
    parser.add_argument("--window", type=int, default=4, help="messages in flight at most")
    parser.add_argument("--min-messages", type=int, default=None, help="default 8 (smoke 3)")
    parser.add_argument("--max-messages", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=None, help="default 5 (smoke 2)")
    parser.add_argument("--smoke", action="store_true", help="every target, tiny sizes")
    parser.add_argument("--targets", nargs="*", choices=list(BY_KEY), default=list(BY_KEY))
    parser.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    parser.add_argument("--json", metavar="FILE", help="also write the medians and ratios to FILE")
    parser.add_argument("--uvloop", action="store_true", help="run every process on uvloop")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--postgres-dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--profile",
        metavar="TARGET",
        choices=[target.key for target in TARGETS if not target.cross_process],
        help="instead of the table, profile one in-process target's burst and print it",
    )
    parser.add_argument("--profiler", choices=["pyinstrument", "cprofile"], default="pyinstrument")
    args = parser.parse_args()
    smoke = args.smoke
    defaults = {
        "subscribers": (20, 1000),
        "repeats": (1, 3),
        "duration": (0.05, 1.5),
        "min_messages": (3, 8),
        "warmup": (2, 5),
    }
    for name, (small, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if smoke else full)
    return args


def cores() -> tuple[int | None, int | None]:
    """(publisher core, subscriber core), or no pinning on a machine with one core."""
    try:
        available = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None, None
    if len(available) < 2:
        return None, None
    return available[0], available[1]


def main() -> None:
    args = parse_args()
    publisher_core, subscriber_core = cores()
    base = Spec(
        target="",
        subscribers=args.subscribers,
        window=args.window,
        duration=args.duration,
        warmup=args.warmup,
        min_messages=args.min_messages,
        max_messages=args.max_messages,
        prefix="",
        redis_url=args.redis_url,
        postgres_dsn=args.postgres_dsn,
        uvloop=args.uvloop,
        publisher_core=publisher_core,
        subscriber_core=subscriber_core,
    )
    if args.profile:
        spec = replace(base, target=args.profile, prefix=f"fanout{os.getpid()}p")
        result = measure(replace(spec, profiler=args.profiler), BY_KEY[args.profile])
        print(result["profile"])
        print(f"{args.profile}: {result['rate']:,.0f} deliveries/s under the profiler")
        return

    targets: list[Target] = []
    for target in [BY_KEY[key] for key in args.targets]:
        reason = why_unavailable(target, args)
        if reason:
            print(f"Skipping {target.label}: {reason}.", flush=True)
        else:
            targets.append(target)

    started = time.monotonic()
    rounds: list[dict[str, dict[str, Any]]] = []
    failures = 0
    for number in range(args.repeats):
        results: dict[str, dict[str, Any]] = {}
        shift = number % len(targets) if targets else 0
        for target in targets[shift:] + targets[:shift]:  # rotate the order each round
            spec = replace(base, target=target.key, prefix=f"fanout{os.getpid()}r{number}")
            try:
                result = measure(spec, target)
            except RunFailed as exc:
                failures += 1
                print(f"round {number + 1}: {target.key} FAILED: {exc}", file=sys.stderr)
                continue
            results[target.key] = result
            print(
                f"round {number + 1}/{args.repeats}: {target.key:22} "
                f"{result['rate']:>12,.0f} deliveries/s  p50 {result['p50'] * 1000:8.2f} ms  "
                f"p99 {result['p99'] * 1000:8.2f} ms  {result['messages']} msgs"
                + ("  LOSSY" if result["lossy"] else ""),
                file=sys.stderr,
                flush=True,
            )
        rounds.append(results)
    elapsed = time.monotonic() - started

    loop = "uvloop" if args.uvloop else "asyncio"
    header = (
        f"Fan-out to {args.subscribers:,} subscribers of one group: {args.repeats} round(s), "
        f"{args.duration:g} s of publishing per target, window of {args.window} messages, "
        f"{loop}, Python {sys.version.split()[0]}; medians."
    )
    lines = [header, "", *table(rounds, targets)]
    lines += [
        "",
        "p50/p99: publish to receipt under full load, with up to the window's messages in "
        "flight. ⚠ marks a figure measured with losses.",
    ]
    print("\n" + "\n".join(lines))
    print(f"\n{len(targets)} target(s), {args.repeats} round(s) in {elapsed:.1f} s")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
    if args.json:
        document = {"header": header, "summary": summarize(rounds, targets)}
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
