"""The processes of ``idle_sockets.py``: a server in a process group, and its clients.

Every process is started in a session of its own, so that Ctrl-C reaches the
benchmark alone, which stops them all on its way out: a server's whole group
(uvicorn's workers with it), then every client still running.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from fanout_proc import processes
from serving import ROOT, SITE, wait_for_port

HERE = Path(__file__).resolve().parent


def rss_kib(pid: int) -> int:
    """Resident memory of *pid* and its descendants together (a server and its workers)."""
    total = 0
    for each in processes(pid):
        try:
            with open(f"/proc/{each}/status") as status:
                total += sum(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        except OSError:
            continue
    return total


def stop_group(process: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM to *process*'s group, then SIGKILL to what is left after *grace* seconds."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with suppress(subprocess.TimeoutExpired):
        process.wait(grace)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextmanager
def server(
    name: str, command: list[str], port: int, settings: str | None, extra_env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """A server listening on *port*, its output in a log file named if it fails."""
    env = {**os.environ, **extra_env, "PYTHONPATH": os.pathsep.join([str(ROOT), str(SITE)])}
    if settings:
        env["DJANGO_SETTINGS_MODULE"] = settings
    log_path = Path(tempfile.gettempdir()) / f"idle-{name}-{port}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command, cwd=SITE, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        try:
            wait_for_port(port, process)
        except RuntimeError as exc:
            raise RuntimeError(f"{name}: {exc}; its output is in {log_path}") from None
        yield process
    finally:
        stop_group(process, grace=15)
        if extra_env.get("FANOUT_GC_FILE"):  # site/gc_pauses.py's, if it wrote one
            Path(extra_env["FANOUT_GC_FILE"]).unlink(missing_ok=True)
        if log_path.stat().st_size:
            print(f"{name}: the server wrote to {log_path}", file=sys.stderr, flush=True)
        else:
            log_path.unlink()


class Clients:
    """Client processes (``idle_client.py``), one per source address, driven together."""

    def __init__(
        self, pin: list[str], url: str, sources: list[str], concurrency: int, publish_url: str = ""
    ) -> None:
        self.processes: list[subprocess.Popen[str]] = []
        for number, source in enumerate(sources):
            command = [*pin, sys.executable, str(HERE / "idle_client.py"), "--url", url,
                       "--source", source, "--concurrency", str(concurrency)]  # fmt: skip
            if publish_url and number == 0:
                command += ["--publish-url", publish_url]
            self.processes.append(
                subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
            )

    def send(self, commands: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
        """One command to each client (in order), and their answers."""
        for process, command in zip(self.processes, commands, strict=False):
            assert process.stdin is not None
            process.stdin.write(json.dumps(command) + "\n")
            process.stdin.flush()
        return [self.read(process, timeout) for process in self.processes[: len(commands)]]

    def read(self, process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
        assert process.stdout is not None
        if not select.select([process.stdout], [], [], timeout)[0]:
            raise RuntimeError(f"no answer from client {process.pid} within {timeout:g} s")
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"client {process.pid} ended (status {process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def open(self, total: int, timeout: float) -> dict[str, Any]:
        """Open sockets until *total* are open across the clients: the opens, errors, seconds."""
        shares = split(total, len(self.processes))
        started = time.perf_counter()
        answers = self.send([{"open": share} for share in shares], timeout)
        errors = [a["first_error"] for a in answers if a["first_error"]]
        return {
            "open": sum(a["open"] for a in answers),
            "errors": sum(a["errors"] for a in answers),
            "first_error": errors[0] if errors else "",
            "closed": sum(a["closed"] for a in answers),
            "seconds": time.perf_counter() - started,
        }

    def close(self, timeout: float = 30) -> None:
        """Close every socket, and stop every client, by force once *timeout* has passed."""
        for process in self.processes:
            if process.poll() is None and process.stdin is not None:
                try:
                    process.stdin.write('{"close": true}\n')
                    process.stdin.flush()
                except BrokenPipeError:
                    pass
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                stop_group(process, grace=2)


@contextmanager
def clients(
    pin: list[str], url: str, sources: list[str], concurrency: int, publish_url: str = ""
) -> Iterator[Clients]:
    fleet = Clients(pin, url, sources, concurrency, publish_url)
    try:
        yield fleet
    finally:
        fleet.close()


def split(total: int, parts: int) -> list[int]:
    """*total* in *parts* shares differing by one at most."""
    return [total // parts + (1 if number < total % parts else 0) for number in range(parts)]


def sources(count: int) -> list[str]:
    """*count* loopback source addresses: 127.0.0.2, 127.0.0.3, ..."""
    if count > 250:
        raise ValueError("at most 250 source addresses")
    return [f"127.0.0.{2 + number}" for number in range(count)]
