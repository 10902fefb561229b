"""The production entry points against plain uvicorn and daphne: a flood, and SIGTERM.

Each target is a fresh server pinned to one core, serving ``benchsite.asgi_ours``
with ``benchsite.settings_deploy`` (``WEBSOCKET_SHUTDOWN_TIMEOUT = 10``); the
client is a process of its own on the other core. Targets: ``plain-uvicorn``,
``uvicorn-entry`` (``--ws``/``--http`` of ``django_asgi_ws.servers.uvicorn``),
``gunicorn-entry`` (its ``UvicornWorker``, 1 worker), ``plain-daphne`` and
``daphne-entry`` (``python -m django_asgi_ws.servers.daphne``).

- ``flood``: a client sends 1 KiB text messages as fast as its socket accepts
  them (pre-built masked frames, raw non-blocking socket) for ``--seconds`` to
  ``ws/slow-reader/``, a view reading one every 50 ms; the server's resident
  memory (with its workers) is sampled every 0.5 s.
- ``drain``: ``--sockets`` websockets to ``ws/held/`` (echo, returns on
  disconnect), each sending a message 100 ms after its previous echo; then
  SIGTERM: the seconds until every client saw its connection end, the close
  codes they got (1006: no close frame), when the server exited, its status.

Nothing is asserted. Run from the repository root with the benchmark venv
(``benchmarks/README.md``; gunicorn-entry also needs gunicorn and uvicorn-worker)::

    python benchmarks/deploy.py                   # both modes, every target: about a minute
    python benchmarks/deploy.py --smoke           # tiny sizes, under 30 s
    python benchmarks/deploy.py --modes drain --sockets 2000 --targets daphne-entry
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.util
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loadgen import raise_open_files_limit
from serving import ROOT, SITE, cores, free_port, wait_for_port

APP = "benchsite.asgi_ours:application"
SETTINGS = "benchsite.settings_deploy"
SHUTDOWN_TIMEOUT = 10.0  # as settings_deploy says
ENTRY = "django_asgi_ws.servers"
TARGETS = {
    "plain-uvicorn": "plain uvicorn",
    "uvicorn-entry": "uvicorn entry point",
    "gunicorn-entry": "gunicorn entry point, 1 worker",
    "plain-daphne": "plain daphne",
    "daphne-entry": "daphne entry point",
}
MODE_TARGETS = {"flood": [k for k in TARGETS if k != "gunicorn-entry"], "drain": list(TARGETS)}
NEEDS = {"gunicorn-entry": ("gunicorn", "uvicorn_worker")}
PERIOD = 0.1  # seconds between an echo and a drain socket's next message


def server_command(key: str, port: int) -> list[str]:
    run = [sys.executable, "-m"]
    uvicorn = [*run, "uvicorn", APP, "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]  # fmt: skip
    daphne = [APP, "-b", "127.0.0.1", "-p", str(port), "-v", "0"]
    return {
        "plain-uvicorn": uvicorn,
        "uvicorn-entry": [*uvicorn, "--ws", f"{ENTRY}.uvicorn:WebSocketProtocol",
                          "--http", f"{ENTRY}.uvicorn:HTTPProtocol"],
        "gunicorn-entry": [*run, "gunicorn", APP, "-k", f"{ENTRY}.uvicorn.UvicornWorker",
                           "-w", "1", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        "plain-daphne": [*run, "daphne", *daphne],
        "daphne-entry": [*run, f"{ENTRY}.daphne", *daphne],
    }[key]  # fmt: skip


def rss_mib(pid: int) -> float:
    """Resident memory of *pid* and of its children (gunicorn's workers), from /proc."""
    pids = [pid]
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as stat:
            if int(stat.read().rpartition(")")[2].split()[1]) == pid:
                pids.append(int(entry))
    total = 0
    for each in pids:
        with contextlib.suppress(OSError), open(f"/proc/{each}/status") as status:
            total += sum(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return total / 1024


@contextmanager
def start(key: str, pin: list[str]) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A fresh server; stopped on the way out if it still runs, its log kept on failure."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(SITE)]),
           "DJANGO_SETTINGS_MODULE": SETTINGS}  # fmt: skip
    log_path = Path(tempfile.gettempdir()) / f"deploy-{key}-{port}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [*pin, *server_command(key, port)], cwd=SITE, env=env, stdin=subprocess.DEVNULL,
            stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
        failed = True
        try:
            wait_for_port(port, process)
            yield port, process
            failed = False
        except Exception as exc:
            raise RuntimeError(f"{exc}; the server's output is in {log_path}") from exc
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(SHUTDOWN_TIMEOUT + 5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if not failed and log_path.stat().st_size:
                print(f"{key}: the server wrote to {log_path}", file=sys.stderr, flush=True)
            elif not failed:
                log_path.unlink()


def client(pin: list[str], *arguments: str) -> subprocess.Popen[str]:
    command = [*pin, sys.executable, str(Path(__file__).resolve()), "--client", *arguments]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def read_json(process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    assert process.stdout is not None
    if not select.select([process.stdout], [], [], timeout)[0]:
        raise RuntimeError(f"no answer from the client within {timeout:g} s")
    if not (line := process.stdout.readline()):
        raise RuntimeError(f"the client ended ({process.wait()})")
    return dict(json.loads(line))


def tell(process: subprocess.Popen[str], line: str = "") -> None:
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()


# Clients (run with --client, on the other core) -----------------------------------------


def handshake(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://127.0.0.1:{port}\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        data = sock.recv(4096)
        if not data:
            raise RuntimeError("the server closed during the handshake")
        response += data
    if not response.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(response.split(b"\r\n")[0].decode())
    return sock


def flood_client(port: int, seconds: float) -> None:
    sock = handshake(port, "/ws/slow-reader/")
    mask = os.urandom(4)
    payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(b"x" * 1024))
    chunk = memoryview((b"\x81\xfe" + (1024).to_bytes(2, "big") + mask + payload) * 256)
    print(json.dumps({"open": True}), flush=True)
    sys.stdin.readline()
    sock.setblocking(False)
    offset = pushed = 0
    ended = None
    deadline = time.monotonic() + seconds
    while ended is None and (left := deadline - time.monotonic()) > 0:
        readable, writable, _ = select.select([sock], [sock], [], min(left, 0.1))
        try:
            if readable and not sock.recv(65536):  # pings, or the server's close
                ended = "the server closed"
            if writable:
                sent = sock.send(chunk[offset:])
                pushed, offset = pushed + sent, (offset + sent) % len(chunk)
        except BlockingIOError:
            continue
        except OSError as exc:
            ended = str(exc)
    print(json.dumps({"pushed_mib": pushed / 2**20, "ended": ended}), flush=True)
    sys.stdin.readline()
    sock.close()


async def drain_client(port: int, count: int, timeout: float) -> dict[str, Any]:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    loop, done = asyncio.get_running_loop(), asyncio.Event()
    echoes = 0

    class Held(WSListener):  # type: ignore[misc]
        transport: WSTransport
        code: int | None = None  # of the close frame received
        ended: float | None = None  # when the connection ended

        def on_ws_connected(self, transport: WSTransport) -> None:
            self.transport = transport
            loop.call_later(random.random() * PERIOD, self.send)

        def send(self) -> None:
            if self.code is None and self.ended is None:
                self.transport.send(WSMsgType.TEXT, b"sixteen bytes..!")

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            nonlocal echoes
            if frame.msg_type is WSMsgType.TEXT:
                echoes += 1
                loop.call_later(PERIOD, self.send)
            elif frame.msg_type is WSMsgType.CLOSE:
                code = frame.get_close_code()
                self.code = int(getattr(code, "value", code))
                transport.send_close(code)
                transport.disconnect()

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            self.ended = time.monotonic()
            if all(h.ended for h in held):
                done.set()

    url, headers = f"ws://127.0.0.1:{port}/ws/held/", {"Origin": f"http://127.0.0.1:{port}"}
    gate, held = asyncio.Semaphore(50), []  # opening 50 at a time

    async def open_one() -> None:
        async with gate:
            with contextlib.suppress(Exception):
                held.append((await ws_connect(Held, url, extra_headers=headers))[1])

    await asyncio.gather(*(open_one() for _ in range(count)))
    busy_from, echoes_before = time.monotonic(), echoes
    print(json.dumps({"open": len(held), "failed": count - len(held)}), flush=True)
    term = float(await loop.run_in_executor(None, sys.stdin.readline))
    echoes_per_s = (echoes - echoes_before) / (time.monotonic() - busy_from)
    done.clear()
    if not all(h.ended for h in held):
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(done.wait(), timeout)
    after = [h for h in held if h.ended is None or h.ended >= term]
    codes = Counter(str(h.code or 1006) if h.ended else "open" for h in after)
    ends = [h.ended - term for h in after if h.ended]
    return {"open": len(held), "failed": count - len(held), "echoes_per_s": echoes_per_s,
            "ended_early": len(held) - len(after), "codes": dict(codes),
            "last_end_s": max(ends, default=None)}  # fmt: skip


def run_client(argv: list[str]) -> None:
    raise_open_files_limit()
    if argv[0] == "flood":
        flood_client(int(argv[1]), float(argv[2]))
        return
    import uvloop

    result = uvloop.run(drain_client(int(argv[1]), int(argv[2]), float(argv[3])))
    print(json.dumps(result), flush=True)


# Measurements ---------------------------------------------------------------------------


def measure_flood(args: argparse.Namespace, key: str, pins: tuple[list[str], list[str]]) -> Any:
    with start(key, pins[0]) as (port, server):
        flood = client(pins[1], "flood", str(port), str(args.seconds))
        try:
            read_json(flood, 30)
            time.sleep(0.5)
            samples = [rss_mib(server.pid)]
            tell(flood)
            while not select.select([flood.stdout], [], [], 0.5)[0]:
                samples.append(rss_mib(server.pid))
            samples.append(rss_mib(server.pid))
            result = read_json(flood, args.seconds + 30)
            tell(flood)
            flood.wait(10)
            # Not measured: the view would read what the server queued at 20 a second.
            server.kill()
            server.wait()
        finally:
            if flood.poll() is None:
                flood.kill()
    return {"start_mib": samples[0], "peak_mib": max(samples), "end_mib": samples[-1],
            "samples_mib": samples, **result}  # fmt: skip


def measure_drain(args: argparse.Namespace, key: str, pins: tuple[list[str], list[str]]) -> Any:
    timeout = SHUTDOWN_TIMEOUT + 30
    with start(key, pins[0]) as (port, server):
        drain = client(pins[1], "drain", str(port), str(args.sockets), str(timeout))
        try:
            opened = read_json(drain, 120)
            time.sleep(args.busy)
            term = time.monotonic()
            server.send_signal(signal.SIGTERM)
            tell(drain, repr(term))
            exited = result = None
            while (exited is None or result is None) and time.monotonic() < term + timeout + 5:
                if exited is None and server.poll() is not None:
                    exited = time.monotonic() - term
                if result is None and select.select([drain.stdout], [], [], 0.005)[0]:
                    result = read_json(drain, 1)
                elif result is not None:
                    time.sleep(0.005)
            if result is None:
                raise RuntimeError(f"the client did not report within {timeout:g} s ({opened})")
        finally:
            if drain.poll() is None:
                drain.kill()
        status = server.poll()
    return {**result, "server_exit_s": exited, "exit_status": status}


# Reporting and command line -------------------------------------------------------------


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def flood_table(results: dict[str, Any]) -> list[str]:
    lines = ["| target | RSS at start, MiB | peak, MiB | end, MiB | client pushed, MiB |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    for key, r in results.items():
        ended = f" ({r['ended']})" if r["ended"] else ""
        lines.append(f"| {TARGETS[key]} | {r['start_mib']:.0f} | {r['peak_mib']:.0f} | "
                     f"{r['end_mib']:.0f} | {r['pushed_mib']:,.0f}{ended} |")  # fmt: skip
    return lines


def drain_table(results: dict[str, Any]) -> list[str]:
    lines = ["| target | open | echoes/s before | all ended after SIGTERM, s | 1001 | 1012 | "
             "no close frame (1006) | other | server exited after, s | exit status |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for key, r in results.items():
        status = r["exit_status"]
        if status is not None and status < 0:
            status = signal.Signals(-status).name  # uvicorn re-raises the signal it handled
        codes = dict(r["codes"])
        counts = [codes.pop(code, 0) for code in ("1001", "1012", "1006")]
        other = ", ".join(f"{n} {code}" for code, n in codes.items()) or "0"
        if r["ended_early"]:
            other += f", {r['ended_early']} ended before SIGTERM"
        lines.append(f"| {TARGETS[key]} | {r['open']:,} | {r['echoes_per_s']:,.0f} | "
                     f"{seconds(r['last_end_s'])} | " + " | ".join(f"{n:,}" for n in counts)
                     + f" | {other} | {seconds(r['server_exit_s'])} | "
                     f"{'still running' if status is None else status} |")  # fmt: skip
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    modes = list(MODE_TARGETS)
    parser.add_argument("--modes", nargs="*", choices=modes, default=modes)
    parser.add_argument("--targets", nargs="*", choices=list(TARGETS), default=None,
                        help="default: all (flood: all but gunicorn-entry)")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=None, help="flood; default 8 (smoke 1)")
    parser.add_argument("--sockets", type=int, default=None, help="drain; default 1000 (smoke 20)")
    parser.add_argument("--busy", type=float, default=None, help="drain: seconds before SIGTERM")
    parser.add_argument("--smoke", action="store_true", help="every target, tiny sizes")
    parser.add_argument("--json", metavar="PATH", help="also write the raw figures to PATH")
    args = parser.parse_args(argv)
    for name, small, full in (("seconds", 1.0, 8.0), ("sockets", 20, 1000), ("busy", 0.5, 3.0)):
        if getattr(args, name) is None:
            setattr(args, name, small if args.smoke else full)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_files_limit()  # the servers inherit it
    pins = cores()
    measures = {"flood": measure_flood, "drain": measure_drain}
    results: dict[str, dict[str, Any]] = {}
    failures = 0
    for mode in args.modes:
        results[mode] = {}
        for key in args.targets or MODE_TARGETS[mode]:
            missing = [m for m in NEEDS.get(key, ()) if importlib.util.find_spec(m) is None]
            if missing:
                print(f"Skipping {key}: {', '.join(missing)} not installed.", file=sys.stderr)
                continue
            try:
                results[mode][key] = measures[mode](args, key, pins)
            except Exception as exc:
                failures += 1
                print(f"{mode} {key} FAILED: {exc}", file=sys.stderr, flush=True)
                continue
            print(f"{mode} {key}: done", file=sys.stderr, flush=True)
    print(f"\nPython {sys.version.split()[0]}; shutdown timeout {SHUTDOWN_TIMEOUT:g} s.")
    if "flood" in results:
        print(f"\nflood: one client sending 1 KiB messages for {args.seconds:g} s to a view "
              "reading one every 50 ms; server RSS sampled every 0.5 s.\n")  # fmt: skip
        print("\n".join(flood_table(results["flood"])))
    if "drain" in results:
        print(f"\ndrain: {args.sockets:,} busy websockets, then SIGTERM to the server.\n")
        print("\n".join(drain_table(results["drain"])))
    if args.json:
        document = {"args": vars(args), **results}
        Path(args.json).write_text(json.dumps(document, indent=1), encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        run_client(sys.argv[2:])
    else:
        sys.exit(main())
