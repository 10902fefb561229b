"""What ``/proc`` says about a fan-out server: its processes' CPU, its sockets, their queues.

``fanout_sockets.py`` and its client read these (Linux only; elsewhere they
return nothing): the CPU time of a server together with its workers, how its
connections are spread over the workers, and how much a socket's kernel
buffers hold on either side (``/proc/net/tcp``), which tells whether a server
still holds a connection its client stopped reading, and how full it is; and,
asked by a signal, how long the server's garbage collector paused it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ESTABLISHED = "01"  # the state column of /proc/net/tcp


def processes(pid: int) -> list[int]:
    """*pid* and its descendants (a server and its workers)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(parent, []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        found.append(current := queue.pop())
        queue.extend(parents.get(current, ()))
    return found


def cpu_seconds(pids: Iterable[int]) -> float | None:
    """User plus system CPU time *pids* have used so far, together; None if one has gone."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def tree_cpu_seconds(pid: int) -> float | None:
    """The CPU time of *pid* and its descendants: a server with all its workers."""
    return cpu_seconds(processes(pid))


def wait_for_workers(pid: int, workers: int, timeout: float = 60) -> None:
    """Wait until *pid* has *workers* children and they stopped using CPU: started, idle.

    Until then, the workers already up would take every connection.
    """
    deadline, last, quiet = time.monotonic() + timeout, None, 0
    while time.monotonic() < deadline:
        children = [child for child in processes(pid) if child != pid]
        used = cpu_seconds(children) if len(children) >= workers else None
        quiet = quiet + 1 if used is not None and used == last else 0
        if quiet >= 3:
            return
        last = used
        time.sleep(0.2)
    raise RuntimeError(f"{workers} workers not started and idle after {timeout:g} s")


@dataclass(frozen=True)
class Connection:
    """One end of a TCP connection on 127.0.0.1, as ``/proc/net/tcp`` lists it."""

    local_port: int
    remote_port: int
    established: bool
    send_queue: int  # bytes written and not yet acknowledged
    receive_queue: int  # bytes received and not yet read
    inode: int


def connections(port: int) -> list[Connection]:
    """Both ends of every IPv4 TCP connection to or from *port*."""
    found = []
    try:
        with open("/proc/net/tcp") as table:
            next(table)
            for line in table:
                fields = line.split()
                local, remote = int(fields[1][-4:], 16), int(fields[2][-4:], 16)
                if port not in (local, remote):
                    continue
                send, receive = (int(value, 16) for value in fields[4].split(":"))
                found.append(Connection(local, remote, fields[3] == ESTABLISHED,
                                        send, receive, int(fields[9])))  # fmt: skip
    except OSError:
        return []
    return found


def sockets_per_process(pid: int, port: int) -> list[int]:
    """How many connections accepted on *port* each process of *pid*'s tree holds."""
    accepted = {c.inode for c in connections(port) if c.local_port == port and c.established}
    counts = []
    for process in processes(pid):
        held = sum(1 for inode in socket_inodes(process) if inode in accepted)
        if held:
            counts.append(held)
    return counts


def socket_inodes(pid: int) -> list[int]:
    """The inodes of the sockets *pid* has open."""
    found = []
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    found.append(int(link[8:-1]))
    return found


def held_by_stalled(server_port: int, client_ports: set[int]) -> tuple[int, int]:
    """For connections from *client_ports*: how many the server still holds, and the
    bytes waiting in the kernel on both ends (the server's send queue, the client's
    receive queue)."""
    held = waiting = 0
    for connection in connections(server_port):
        if connection.local_port == server_port and connection.remote_port in client_ports:
            held += connection.established
            waiting += connection.send_queue
        elif connection.local_port in client_ports:
            waiting += connection.receive_queue
    return held, waiting


def collector_totals(pid: int, path: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """What ``site/gc_pauses.py`` in server *pid* says of its collector, asked by SIGUSR1.

    None if the server does not answer within *timeout* (gone, or not one of
    ours: only servers started with ``FANOUT_GC_FILE`` set answer).
    """
    before = _read_json(path)
    writes = before["writes"] if before else 0
    try:
        os.kill(pid, signal.SIGUSR1)
    except OSError:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _read_json(path)
        if now and now["writes"] > writes:
            return now
        time.sleep(0.005)
    return None


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as file:
            found: dict[str, Any] = json.load(file)
            return found
    except (OSError, ValueError):
        return None
