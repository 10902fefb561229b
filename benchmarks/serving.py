"""Serving websockets: ours against bare ASGI, Channels and django-socket, on real servers.

Every target is a real server process (uvicorn or daphne, started as their
documentation says) pinned to one core; the load generator (``loadgen.py``, a
picows client on uvloop) runs in its own process pinned to the other core.

Targets, on each server:

- ``bare``: a raw ASGI echo application, no framework (the limit);
- ``ours``: ``django_asgi_ws.asgi.get_asgi_application()`` with the default
  security settings: Host and Origin checked, size limit, handshake timeout,
  sessions and auth installed; the view is ``accept()`` then ``iter_text()`` /
  ``send_text()``;
- ``channels``: Channels 4, an ``AsyncWebsocketConsumer`` behind
  ``AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(...)))``, as its
  tutorial writes ``asgi.py``;
- ``django-socket``: django-socket, a ``@ws`` handler in an app's
  ``sockets.py``, served by the ``asgi.py`` that ``startproject`` writes, as its
  README says.

The Django projects run with DEBUG off (``site/benchsite``). Modes:

- ``echo``: 50 sockets, one 64-byte text message in flight each: round trips/s;
- ``echo8``: the same with 8 messages in flight per socket;
- ``handshake``: 20 loops opening a websocket and closing it: handshakes/s;
- ``memory``: a fresh server, warmed up, then 5,000 and 10,000 idle open
  sockets: the growth of the server's resident memory per socket.

Every socket sends the Origin a browser on the server's own page would send.
The servers of the throughput modes stay up for the whole run; in each round,
each mode measures every target in turn, in an order rotated from round to
round, and the table gives medians and the medians of the per-round ratios. The
server's CPU time per operation is read from ``/proc`` over the same window.
No timing is asserted anywhere.

Run from the repository root with the benchmark venv (``benchmarks/README.md``)::

    python benchmarks/serving.py                     # every target and mode, 5 rounds
    python benchmarks/serving.py --smoke             # every target, tiny sizes
    python benchmarks/serving.py --targets bare-uvicorn ours-uvicorn --modes echo8
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SITE = HERE / "site"


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    server: str  # "uvicorn" or "daphne"
    stack: str  # "bare", "ours", "channels", "django-socket"
    app: str
    settings: str | None

    @property
    def needs(self) -> tuple[str, ...]:
        modules = {"channels": "channels", "django-socket": "django_socket"}
        return (self.server,) + ((modules[self.stack],) if self.stack in modules else ())


STACKS = {
    "bare": ("bare ASGI", "bare_echo:app", None),
    "ours": ("django-asgi-ws", "benchsite.asgi_ours:application", "benchsite.settings_ours"),
    "channels": (
        "Channels 4",
        "benchsite.asgi_channels:application",
        "benchsite.settings_channels",
    ),
    "django-socket": (
        "django-socket",
        "benchsite.asgi_django_socket:application",
        "benchsite.settings_django_socket",
    ),
}
TARGETS = [
    Target(f"{stack}-{server}", f"{label} on {server}", server, stack, app, settings)
    for server in ("uvicorn", "daphne")
    for stack, (label, app, settings) in STACKS.items()
]
BY_KEY = {target.key: target for target in TARGETS}
MODES = {
    "echo": "echo, 50 sockets, 64 B: round trips/s",
    "echo8": "echo, 8 in flight per socket: round trips/s",
    "handshake": "handshakes (open, close), 20 at once: /s",
    "memory": "memory per idle socket: KiB",
}


# Processes ------------------------------------------------------------------------------


def cores() -> tuple[list[str], list[str]]:
    """taskset prefixes for (server, load generator), or none on a single core."""
    try:
        available = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return [], []
    if len(available) < 2:
        return [], []
    return ["taskset", "-c", str(available[0])], ["taskset", "-c", str(available[1])]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:g} s")


@dataclass
class Server:
    target: Target
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/echo/"

    def rss_kib(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")


def server_command(target: Target, port: int) -> list[str]:
    if target.server == "uvicorn":
        # uvicorn's defaults otherwise: uvloop, httptools, websockets' sans-I/O protocol.
        return [
            sys.executable, "-m", "uvicorn", target.app, "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning",
        ]  # fmt: skip
    return [
        sys.executable,
        "-m",
        "daphne",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "-v",
        "0",
        target.app,
    ]


@contextmanager
def serve(target: Target, pin: list[str]) -> Iterator[Server]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(SITE)])}
    if target.settings:
        env["DJANGO_SETTINGS_MODULE"] = target.settings
    # What a server prints (some targets log a traceback per client that leaves
    # with messages in flight) goes to a log file, named if the server fails.
    log_path = Path(tempfile.gettempdir()) / f"serving-{target.key}-{port}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [*pin, *server_command(target, port)], cwd=SITE, env=env, stdin=subprocess.DEVNULL,
        stdout=log_file, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        try:
            wait_for_port(port, process)
        except RuntimeError as exc:
            raise RuntimeError(f"{target.key}: {exc}; its output is in {log_path}") from None
        yield Server(target, port, process)
    finally:
        log_file.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def loadgen(
    pin: list[str], servers: list[Server], mode: str, *options: str
) -> subprocess.Popen[str]:
    targets = [
        arg for server in servers for arg in ("--target", server.url, str(server.process.pid))
    ]
    command = [*pin, sys.executable, str(HERE / "loadgen.py"), mode, *targets, *options]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def run_loadgen(pin: list[str], servers: list[Server], mode: str, *options: str) -> dict[str, Any]:
    process = loadgen(pin, servers, mode, *options)
    out, _ = process.communicate(timeout=1800)
    if process.returncode:
        raise RuntimeError(f"the load generator failed ({process.returncode})")
    return dict(json.loads(out.strip().splitlines()[-1]))


# Measurements ---------------------------------------------------------------------------


def measure_throughput(
    args: argparse.Namespace, pin: list[str], servers: list[Server], mode: str
) -> list[dict[str, Any]]:
    """Every target in interleaved slices: per round, {target key: result}."""
    options = ["--rounds", str(args.repeats), "--slice", str(args.slice),
               "--slice-warmup", str(args.slice_warmup)]  # fmt: skip
    if mode == "handshake":
        options += ["--connections", "20"]
    else:
        options += ["--connections", str(args.connections), "--size", "64",
                    "--inflight", "8" if mode == "echo8" else "1"]  # fmt: skip
    result = run_loadgen(pin, servers, "handshake" if mode == "handshake" else "echo", *options)
    keys = {server.url: server.target.key for server in servers}
    return [{keys[url]: figures for url, figures in r.items()} for r in result["rounds"]]


def measure_memory(
    args: argparse.Namespace, server_pin: list[str], client_pin: list[str], target: Target
) -> dict[str, Any]:
    """Resident memory growth per idle socket, on a fresh server warmed up first."""
    with serve(target, server_pin) as server:
        # Warm-up: every import and cache a connection needs, before the baseline.
        run_loadgen(client_pin, [server], "handshake", "--connections", "20",
                    "--rounds", "1", "--slice", "0.3")  # fmt: skip
        time.sleep(0.5)
        base = server.rss_kib()
        counts = [str(count) for count in args.memory_counts]
        process = loadgen(client_pin, [server], "hold", "--connections", "100", "--counts", *counts)
        assert process.stdin is not None and process.stdout is not None
        result: dict[str, Any] = {"base_kib": base}
        try:
            for count in args.memory_counts:
                line = process.stdout.readline()
                if not line:
                    raise RuntimeError("the load generator ended early")
                status = json.loads(line)
                time.sleep(args.settle)
                rss = server.rss_kib()
                result[str(count)] = {
                    "open": status["open"],
                    "errors": status["errors"],
                    "rss_kib": rss,
                    "per_socket_kib": (rss - base) / max(status["open"], 1),
                }
                process.stdin.write("\n")
                process.stdin.flush()
            process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        return result


# Reporting ------------------------------------------------------------------------------

FIGURES = {
    "echo": "echo rt/s",
    "echo8": "echo, 8 in flight, rt/s",
    "handshake": "handshakes/s",
}


def memory_figure(count: int) -> str:
    return f"memory{count}"


def figure_titles(args: argparse.Namespace) -> dict[str, str]:
    titles = dict(FIGURES)
    for count in args.memory_counts:
        titles[memory_figure(count)] = f"KiB per idle socket, {count:,} open"
    return titles


def flatten(rounds: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Per round: {target key: {figure: {"value", "errors", "cpu_us"}}}."""
    flat: list[dict[str, Any]] = []
    for results in rounds:
        round_figures: dict[str, Any] = {}
        for key, modes in results.items():
            figures: dict[str, Any] = {}
            for mode, result in modes.items():
                if mode != "memory":
                    figures[mode] = {
                        "value": result["rate"],
                        "errors": result["errors"],
                        "cpu_us": result.get("cpu_us"),
                    }
                    continue
                for count in args.memory_counts:
                    at_count = result[str(count)]
                    figures[memory_figure(count)] = {
                        "value": at_count["per_socket_kib"],
                        "errors": at_count["errors"],
                        "cpu_us": None,
                    }
            round_figures[key] = figures
        flat.append(round_figures)
    return flat


def median_ratio(flat: list[dict[str, Any]], key: str, reference: str, figure: str) -> float | None:
    """The median of *key*'s ratios to *reference* on *figure*, each within one round."""
    ratios = [
        r[key][figure]["value"] / r[reference][figure]["value"]
        for r in flat
        if figure in r.get(key, {})
        and figure in r.get(reference, {})
        and r[reference][figure]["value"] > 0
    ]
    return statistics.median(ratios) if ratios else None


def summarize(rounds: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Per target and figure: the median, the median of its per-round ratios to bare
    ASGI on the same server, the median server CPU time per operation, the errors."""
    flat = flatten(rounds, args)
    summary: dict[str, Any] = {}
    for target in TARGETS:
        bare = f"bare-{target.server}"
        figures: dict[str, Any] = {}
        for name in figure_titles(args):
            mine = [r[target.key][name] for r in flat if name in r.get(target.key, {})]
            if not mine:
                continue
            cpu = [m["cpu_us"] for m in mine if m["cpu_us"]]
            figures[name] = {
                "median": statistics.median(m["value"] for m in mine),
                "vs_bare": median_ratio(flat, target.key, bare, name),
                "cpu_us": statistics.median(cpu) if cpu else None,
                "errors": sum(m["errors"] for m in mine),
                "rounds": len(mine),
            }
        if figures:
            summary[target.key] = {
                "label": target.label,
                "server": target.server,
                "stack": target.stack,
                "figures": figures,
            }
    return summary


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def table(summary: dict[str, Any], args: argparse.Namespace) -> list[str]:
    titles = figure_titles(args)
    present = [n for n in titles if any(n in entry["figures"] for entry in summary.values())]
    lines = [
        "| target | " + " | ".join(titles[n] for n in present) + " |",
        "|---|" + "---:|" * len(present),
    ]
    for entry in summary.values():
        cells = []
        for name in present:
            row = entry["figures"].get(name)
            if row is None:
                cells.append("-")
                continue
            memory = name.startswith("memory")
            number = f"{row['median']:.1f}" if memory else f"{row['median']:,.0f}"
            mark = " ⚠" if row["errors"] else ""
            cells.append(f"{number}{mark} ({ratio(row['vs_bare'])})")
        lines.append(f"| {entry['label']} | " + " | ".join(cells) + " |")
    return lines


# Command line ---------------------------------------------------------------------------


def why_unavailable(target: Target) -> str | None:
    for module in target.needs:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -r benchmarks/requirements.txt)"
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--targets", nargs="*", choices=list(BY_KEY), default=list(BY_KEY))
    parser.add_argument("--modes", nargs="*", choices=list(MODES), default=list(MODES))
    parser.add_argument("--repeats", type=int, default=None, help="rounds; default 12 (smoke 1)")
    parser.add_argument("--memory-repeats", type=int, default=None, help="default 1")
    parser.add_argument(
        "--slice",
        type=float,
        default=None,
        help="seconds counted per target and round; default 0.5 (smoke 0.1)",
    )
    parser.add_argument(
        "--slice-warmup",
        type=float,
        default=None,
        help="seconds of load before counting; default 0.1 (smoke 0.05)",
    )
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--memory-counts", type=int, nargs="*", default=None, help="default 5000 10000 (smoke 100)"
    )
    parser.add_argument("--settle", type=float, default=1.0, help="seconds before reading memory")
    parser.add_argument("--smoke", action="store_true", help="every target and mode, tiny sizes")
    parser.add_argument("--json", metavar="FILE", help="also write the rounds and summary to FILE")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    args = parser.parse_args(argv)
    defaults = {
        "repeats": (1, 12),
        "memory_repeats": (1, 1),
        "slice": (0.1, 0.5),
        "slice_warmup": (0.05, 0.1),
        "memory_counts": ([100], [5000, 10000]),
    }
    for name, (small, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if args.smoke else full)
    if args.smoke:
        args.settle = 0.2
    return args


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_throughput(
    args: argparse.Namespace,
    targets: list[Target],
    pins: tuple[list[str], list[str]],
    rounds: list[dict[str, Any]],
) -> int:
    """Every throughput mode, the servers up throughout; returns the number of failures."""
    server_pin, client_pin = pins
    failures = 0
    with ExitStack() as stack:
        servers = {t.key: stack.enter_context(serve(t, server_pin)) for t in targets}
        for mode in (mode for mode in args.modes if mode != "memory"):
            try:
                results = measure_throughput(args, client_pin, list(servers.values()), mode)
            except Exception as exc:
                failures += 1
                log(f"{mode} FAILED: {exc}")
                continue
            for number, results_of_round in enumerate(results):
                for key, result in results_of_round.items():
                    rounds[number].setdefault(key, {})[mode] = result
            for key in servers:
                rates = [r[key]["rate"] for r in results if key in r]
                errors = sum(r[key]["errors"] for r in results if key in r)
                line = f"{mode:9} {key:22} {statistics.median(rates):>10,.0f}/s"
                log(line + (f"  {errors} errors" if errors else ""))
    return failures


def run_memory(
    args: argparse.Namespace,
    targets: list[Target],
    pins: tuple[list[str], list[str]],
    rounds: list[dict[str, Any]],
) -> int:
    """The memory mode, a fresh server per target and round; returns the number of failures."""
    failures = 0
    for number in range(args.memory_repeats):
        shift = number % len(targets)
        for target in targets[shift:] + targets[:shift]:
            try:
                result = measure_memory(args, *pins, target)
            except Exception as exc:
                failures += 1
                log(f"memory {number + 1}: {target.key} FAILED: {exc}")
                continue
            rounds[number].setdefault(target.key, {})["memory"] = result
            per_socket = "  ".join(
                f"{count:,}: {result[str(count)]['per_socket_kib']:.1f} KiB/socket"
                for count in args.memory_counts
            )
            log(f"memory {number + 1}/{args.memory_repeats} {target.key:22} {per_socket}")
    return failures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pins = cores()
    targets = []
    for target in (BY_KEY[key] for key in args.targets):
        reason = why_unavailable(target)
        if reason:
            log(f"Skipping {target.label}: {reason}.")
        else:
            targets.append(target)
    started = time.monotonic()
    rounds: list[dict[str, Any]] = [{} for _ in range(max(args.repeats, args.memory_repeats))]
    failures = 0
    if targets and any(mode != "memory" for mode in args.modes):
        failures += run_throughput(args, targets, pins, rounds)
    if targets and "memory" in args.modes:
        failures += run_memory(args, targets, pins, rounds)
    elapsed = time.monotonic() - started
    summary = summarize(rounds, args)
    header = (
        f"Serving: {len(targets)} target(s); throughput in {args.repeats} interleaved "
        f"round(s) of {args.slice:g} s per target; Python {sys.version.split()[0]}. "
        "Medians, and in brackets the median of the per-round ratios to bare ASGI on "
        "the same server; ⚠ marks a figure with errors."
    )
    lines = [header, "", *table(summary, args)]
    print("\n" + "\n".join(lines))
    print(f"\nin {elapsed:.1f} s")
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if args.json:
        document = {"args": vars(args), "rounds": rounds, "summary": summary}
        Path(args.json).write_text(json.dumps(document, indent=1), encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
