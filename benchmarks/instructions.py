"""Instructions per handshake and per message, counted by callgrind on a real uvicorn.

Throughput on a shared machine swings by several percent from one second to
the next; the number of instructions a server executes for the same work
does not (within about 1%, from how the event loop happens to batch). This
script starts each target under ``valgrind --tool=callgrind``, warms it up,
then does the same work twice (none, and N operations) with a plain
websockets client, one operation at a time. The difference of the two
totals divided by N is the server's cost of one operation, startup excluded.

It needs valgrind (``apt-get install valgrind``). A run takes about a minute
per target and mode: a server runs about 50 times slower under callgrind.

    python benchmarks/instructions.py
    python benchmarks/instructions.py --stacks ours --modes echo --count 5000

The cost on a real machine also depends on caches, which callgrind does not
time: use this to see what a change to the hot paths does, and serving.py
for what the server delivers.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from serving import ROOT, SITE, STACKS, free_port, wait_for_port
from websockets.sync.client import connect

MODES = {
    "handshake": "instructions per handshake (open, close)",
    "echo": "instructions per echoed 64-byte message",
}
WARM_UP = 20


def count_instructions(stack: str, mode: str, operations: int) -> int:
    """The instructions a uvicorn serving *stack* executed, from start to exit."""
    _label, app, settings = STACKS[stack]
    port = free_port()
    # Hash randomization changes dict layouts, and with them the counts.
    env = {
        **os.environ,
        "PYTHONHASHSEED": "0",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(SITE)]),
    }
    if settings:
        env["DJANGO_SETTINGS_MODULE"] = settings
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning",
        ]  # fmt: skip
        with open(Path(directory) / "server.log", "wb") as log:
            server = subprocess.Popen(command, cwd=SITE, env=env, stdout=log, stderr=log)
            try:
                wait_for_port(port, server, timeout=120)
                drive(port, mode, operations)
            finally:
                server.send_signal(signal.SIGINT)
                server.wait(120)
        match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
        if match is None:
            raise RuntimeError(f"callgrind wrote no total for {stack} {mode}")
        return int(match.group(1))


def drive(port: int, mode: str, operations: int) -> None:
    url = f"ws://127.0.0.1:{port}/ws/echo/"
    # A browser's Origin, so that the origin check does its real work.
    headers = {"Origin": f"http://127.0.0.1:{port}"}
    for _ in range(WARM_UP):  # the first connections import and fill caches
        with connect(url, additional_headers=headers) as websocket:
            websocket.send("warm")
            websocket.recv()
    if mode == "handshake":
        for _ in range(operations):
            with connect(url, additional_headers=headers):
                pass
    elif operations:
        with connect(url, additional_headers=headers) as websocket:
            for _ in range(operations):
                websocket.send("x" * 64)
                websocket.recv()


def per_operation(stack: str, mode: str, operations: int) -> float:
    baseline = count_instructions(stack, mode, 0)
    loaded = count_instructions(stack, mode, operations)
    return (loaded - baseline) / operations


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stacks", nargs="*", choices=["bare", "ours"], default=["bare", "ours"])
    parser.add_argument("--modes", nargs="*", choices=list(MODES), default=list(MODES))
    parser.add_argument(
        "--count", type=int, default=None, help="operations; default 300 handshakes, 2000 messages"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    print(f"| stack | {' | '.join(MODES[mode] for mode in args.modes)} |")
    print(f"|---|{'---:|' * len(args.modes)}")
    bare: dict[str, float] = {}
    for stack in args.stacks:
        cells = []
        for mode in args.modes:
            count = args.count or (300 if mode == "handshake" else 2000)
            value = per_operation(stack, mode, count)
            if stack == "bare":
                bare[mode] = value
            ratio = f" ({bare[mode] / value:.3f}x)" if mode in bare else ""
            cells.append(f"{value:,.0f}{ratio}")
        print(f"| {stack} | {' | '.join(cells)} |", flush=True)
    if bare and len(args.stacks) > 1:
        print("\nIn brackets: bare's count over this one, comparable to a throughput ratio.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
