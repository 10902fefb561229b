"""Launch and reload times of runasgi (uvicorn, daphne), runserver and uvicorn --reload.

Each target serves a project generated in a temporary folder (see
``reload_project.py``): ``small`` (``startproject``) and ``large`` (30 apps,
300 models, admin, migrations, heavy imports). An HTTP view at ``/version/``
answers the ``VERSION`` of a module, ``mysite/version.py``, and the pid of the
process that served. The same HTTP probe, polled every 20 ms, times every target:

- launch: from starting the command to the first answer;
- reload: from saving a new ``VERSION`` to the first answer carrying it. An
  edit whose new version does not answer within 20 s is a failure, reported
  as *stale* (the old code still answers) or *down* (nothing answers);
- RSS: the resident memory of the process that served the first answer, and
  in brackets of all the command's processes (its process group).

Each round launches every target once per project, in an order rotated from
round to round, and makes ``--edits`` edits 1.5 s apart. Ratios to runserver
are of medians measured in the same run. Run from the repository root, with
``django_asgi_ws`` importable (installed, or the repository on PYTHONPATH)::

    python benchmarks/reload.py          # both projects, all targets, 5 edits x 2 rounds
    python benchmarks/reload.py --smoke  # 1 edit, 1 round, a large project of 3 apps
    python benchmarks/reload.py --projects small --targets runasgi runserver --edits 3
    python benchmarks/reload.py --json reload.json
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import importlib.util
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import reload_project
from reload_project import Project

POLL_INTERVAL = 0.02
# Between an answer and the next save. More than a second: runserver polls
# modification times once a second and must have seen the module before it
# changes, and .pyc files are checked against a whole-second mtime.
EDIT_GAP = 1.5
LAUNCH_TIMEOUT = 60.0
EDIT_TIMEOUT = 20.0
# Every saved version is new, so no .pyc file can hold it already.
VERSIONS = (f"v{number}" for number in itertools.count())
LARGE_APPS = 30
SMOKE_APPS = 3
MODELS_PER_APP = 10
SMOKE_MODELS_PER_APP = 3


@dataclass(frozen=True)
class Target:
    label: str
    command: str  # after the interpreter, split on spaces; {port} and {root} are filled in
    manage: bool = True  # a management command: --skip-checks applies
    module: str = ""  # skipped unless this module is installed


TARGETS = {
    "runserver": Target("runserver", "manage.py runserver 127.0.0.1:{port}"),
    "runasgi": Target("runasgi (uvicorn)", "manage.py runasgi 127.0.0.1:{port}", module="uvicorn"),
    "runasgi-daphne": Target(
        "runasgi --server daphne",
        "manage.py runasgi 127.0.0.1:{port} --server daphne",
        module="daphne",
    ),
    "uvicorn-reload": Target(
        "uvicorn --reload",
        "-m uvicorn mysite.asgi:application --host 127.0.0.1 --port {port} "
        "--reload --reload-dir {root}",
        manage=False,
        module="uvicorn",
    ),
}
BASELINE = "runserver"


class Answer(NamedTuple):
    version: str
    pid: int


@dataclass
class Launch:
    """One launch of one target on one project, and the edits made while it ran."""

    project: str
    target: str
    round: int
    launch: float | None = None
    reloads: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    server_rss_kib: int | None = None
    all_rss_kib: int | None = None
    error: str | None = None


# The probe -------------------------------------------------------------------

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def ask(port: int) -> Answer | None:
    """GET /version/ on a new connection: the version and pid, or None."""
    try:
        with _opener.open(f"http://127.0.0.1:{port}/version/", timeout=2) as reply:
            version, _, pid = reply.read().decode().partition(" ")
            return Answer(version, int(pid))
    except (OSError, ValueError, http.client.HTTPException):
        return None


def poll(
    port: int, expected: str, start: float, timeout: float, process: subprocess.Popen[bytes]
) -> tuple[float | None, Answer | None]:
    """Ask every POLL_INTERVAL until *expected* answers: (seconds since *start*, answer).

    On a timeout, or if the command exits: (None, the last answer, None if the
    last request got none).
    """
    while True:
        answer = ask(port)
        if answer is not None and answer.version == expected:
            return time.perf_counter() - start, answer
        if time.perf_counter() - start > timeout or process.poll() is not None:
            return None, answer
        time.sleep(POLL_INTERVAL)


# Processes -------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as a developer's shell: .pyc files written
    env["DJANGO_RUNSERVER_HIDE_WARNING"] = "true"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def group_members(pgid: int) -> list[int]:
    """The pids of the processes in process group *pgid*."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C to the command's process group, then SIGKILL to whatever is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# One launch ------------------------------------------------------------------


def measure(
    key: str, project: Project, number: int, edits: int, checks: bool, logs: Path
) -> Launch:
    """Launch *key* on *project*, time the first answer, then *edits* edits; always stop it."""
    target = TARGETS[key]
    result = Launch(project.name, key, number)
    port = free_port()
    argv = [part.format(port=port, root=project.root) for part in target.command.split()]
    if target.manage and not checks:
        argv.append("--skip-checks")
    time.sleep(EDIT_GAP)  # after the last save of the previous launch
    version = next(VERSIONS)
    project.write_version(version)
    time.sleep(0.3)  # the save is well before the command starts
    log = logs / f"{project.name}-{key}-r{number}.log"
    with log.open("wb") as output:
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, *argv],
            cwd=project.root,
            env=clean_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        result.launch, answer = poll(port, version, start, LAUNCH_TIMEOUT, process)
        if result.launch is None or answer is None:
            code = process.poll()
            why = f"exited with {code}" if code is not None else f"{LAUNCH_TIMEOUT:.0f} s"
            tail = log.read_text(errors="replace").splitlines()[-15:]
            result.error = f"no answer ({why}); the end of its output:\n" + "\n".join(tail)
            return result
        result.server_rss_kib = rss_kib(answer.pid)
        sizes = [rss_kib(pid) for pid in group_members(process.pid)]
        result.all_rss_kib = sum(size for size in sizes if size is not None)
        for edit in range(1, edits + 1):
            time.sleep(EDIT_GAP)
            old, version = version, next(VERSIONS)
            project.write_version(version)
            saved = time.perf_counter()
            seconds, answer = poll(port, version, saved, EDIT_TIMEOUT, process)
            if seconds is not None:
                result.reloads.append(seconds)
            elif answer is not None and answer.version == old:
                result.failures.append(f"edit {edit}: stale")
            else:
                result.failures.append(f"edit {edit}: down")
        return result
    finally:
        stop(process)


# Tables ----------------------------------------------------------------------


@dataclass
class Summary:
    """One target on one project, over all its launches."""

    launch: list[float]
    reload: list[float]
    edits: int  # made while the target was answering
    stale: int
    down: int
    launch_failures: int
    server_rss_kib: list[int]
    all_rss_kib: list[int]

    @classmethod
    def of(cls, launches: list[Launch], edits: int) -> Summary:
        started = [launch for launch in launches if launch.launch is not None]
        failures = [failure for launch in launches for failure in launch.failures]
        return cls(
            launch=[launch.launch for launch in started if launch.launch is not None],
            reload=[seconds for launch in launches for seconds in launch.reloads],
            edits=edits * len(started),
            stale=sum(failure.endswith("stale") for failure in failures),
            down=sum(failure.endswith("down") for failure in failures),
            launch_failures=len(launches) - len(started),
            server_rss_kib=[launch.server_rss_kib for launch in started if launch.server_rss_kib],
            all_rss_kib=[launch.all_rss_kib for launch in started if launch.all_rss_kib],
        )

    def median(self, figure: str) -> float | None:
        values: list[float] = getattr(self, figure)
        return statistics.median(values) if values else None


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f}" if values else "-"
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def ratio(value: float | None, baseline: float | None) -> str:
    return f"{value / baseline:.2f}x" if value is not None and baseline else "-"


def project_table(summaries: dict[str, Summary]) -> list[str]:
    base = summaries.get(BASELINE)
    rows = [
        "| command | launch to first answer, s (median, range) "
        "| save to new code answering, s (median, range) | vs runserver: launch, reload "
        "| RSS after first answer, MiB: server (all) | edits picked up |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, summary in summaries.items():
        memory = "-"
        if summary.server_rss_kib:
            server, every = summary.median("server_rss_kib"), summary.median("all_rss_kib")
            memory = f"{(server or 0) / 1024:.0f} ({(every or 0) / 1024:.0f})"
        picked = f"{len(summary.reload)}/{summary.edits}"
        for kind in ("stale", "down", "launch_failures"):
            if getattr(summary, kind):
                picked += f", **{getattr(summary, kind)} {kind.replace('_', ' ')}**"
        ratios = "1 (baseline)"
        if key != BASELINE:
            ratios = ", ".join(
                ratio(summary.median(figure), base.median(figure) if base else None)
                for figure in ("launch", "reload")
            )
        rows.append(
            f"| {TARGETS[key].label} | {spread(summary.launch)} | {spread(summary.reload)} "
            f"| {ratios} | {memory} | {picked} |"
        )
    return rows


def side_by_side(small: dict[str, Summary], large: dict[str, Summary]) -> list[str]:
    """Medians of both projects per command, and large over small."""
    rows = [
        "| command | launch small, s | launch large, s | large/small "
        "| reload small, s | reload large, s | large/small |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key in [key for key in small if key in large]:
        cells = []
        for figure in ("launch", "reload"):
            a, b = small[key].median(figure), large[key].median(figure)
            cells += [f"{a:.2f}" if a else "-", f"{b:.2f}" if b else "-", ratio(b, a)]
        rows.append(f"| {TARGETS[key].label} | " + " | ".join(cells) + " |")
    return rows


# Running ---------------------------------------------------------------------


def rotated(items: list[str], by: int) -> list[str]:
    by %= len(items)
    return items[by:] + items[:by]


def describe_environment(project: Project) -> dict[str, str]:
    """Versions, and which django_asgi_ws the commands import (run as they run)."""
    where = subprocess.run(
        [sys.executable, "-c", "import django_asgi_ws; print(django_asgi_ws.__file__)"],
        cwd=project.root,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    if where.returncode:
        sys.exit("django_asgi_ws is not importable: install it or put the repository on PYTHONPATH")
    info = {"python": sys.version.split()[0], "django_asgi_ws": where.stdout.strip()}
    for name in ("django", "uvicorn", "daphne", "watchfiles"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            info[name] = importlib.metadata.version(name)
    return info


def run(args: argparse.Namespace, folder: Path) -> None:
    env = clean_env()
    logs = folder / "logs"
    logs.mkdir()
    projects: dict[str, Project] = {}
    for name in args.projects:
        started = time.perf_counter()
        apps = 0 if name == "small" else (SMOKE_APPS if args.smoke else LARGE_APPS)
        per_app = SMOKE_MODELS_PER_APP if args.smoke else MODELS_PER_APP
        projects[name] = reload_project.generate(name, folder / name, env, apps, per_app)
        projects[name].seconds_to_generate = time.perf_counter() - started
        print(f"generated {name}: {projects[name].describe()}", file=sys.stderr)
    info = describe_environment(next(iter(projects.values())))
    targets = []
    for key in args.targets:
        module = TARGETS[key].module
        if module and importlib.util.find_spec(module) is None:
            print(f"skipped {key}: {module} is not installed", file=sys.stderr)
        else:
            targets.append(key)
    load_before = os.getloadavg()
    launches: list[Launch] = []
    for number in range(1, args.rounds + 1):
        for name, project in projects.items():
            for key in rotated(targets, number - 1):
                launch = measure(key, project, number, args.edits, args.checks, logs)
                launches.append(launch)
                figures = " ".join(f"{seconds:.2f}" for seconds in launch.reloads)
                started = f"{launch.launch:.2f} s" if launch.launch else "failed"
                print(
                    f"[round {number} {name}] {key}: launch {started}, "
                    f"reloads {figures or '-'}, RSS {(launch.server_rss_kib or 0) / 1024:.0f} MiB"
                    + "".join(f"; {failure}" for failure in launch.failures)
                    + (f"\n  {launch.error}" if launch.error else ""),
                    file=sys.stderr,
                )
    load_after = os.getloadavg()
    summaries = {
        name: {
            key: Summary.of(
                [run for run in launches if (run.project, run.target) == (name, key)], args.edits
            )
            for key in targets
        }
        for name in projects
    }
    report(args, info, projects, summaries, (load_before[0], load_after[0]))
    if args.json:
        document = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "environment": info,
            "cpus": os.cpu_count(),
            "load_average": {"before": load_before, "after": load_after},
            "settings": {**vars(args), "poll_interval": POLL_INTERVAL, "edit_gap": EDIT_GAP},
            "projects": {name: asdict(project) for name, project in projects.items()},
            "summary": {
                name: {key: asdict(summary) for key, summary in summary_of.items()}
                for name, summary_of in summaries.items()
            },
            "launches": [asdict(launch) for launch in launches],
        }
        Path(args.json).write_text(json.dumps(document, indent=2, default=str) + "\n")


def report(
    args: argparse.Namespace,
    info: dict[str, str],
    projects: dict[str, Project],
    summaries: dict[str, dict[str, Summary]],
    load: tuple[float, float],
) -> None:
    versions = ", ".join(f"{name} {version}" for name, version in info.items())
    checks = "with system checks" if args.checks else "--skip-checks"
    print(
        f"\n{versions}; {os.cpu_count()} CPUs, load average {load[0]:.2f} before, "
        f"{load[1]:.2f} after.\n{args.rounds} round(s) x {args.edits} edit(s) per target "
        f"and project; HTTP polled every {POLL_INTERVAL * 1000:.0f} ms; "
        f"management commands with {checks}."
    )
    for name, summary in summaries.items():
        print(f"\n### {name}: {projects[name].describe()}\n")
        print("\n".join(project_table(summary)))
    if {"small", "large"} <= summaries.keys():
        print("\n### small and large, medians\n")
        print("\n".join(side_by_side(summaries["small"], summaries["large"])))


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--projects", nargs="+", choices=["small", "large"], default=["small", "large"]
    )
    parser.add_argument("--targets", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--edits", type=int, help="edits per launch (default 5)")
    parser.add_argument("--rounds", type=int, help="launches per target and project (default 2)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure here")
    parser.add_argument(
        "--checks", action="store_true", help="let runserver and runasgi run system checks"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="1 edit, 1 round, a large project of 3 small apps"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    args.edits = args.edits or (1 if args.smoke else 5)
    args.rounds = args.rounds or (1 if args.smoke else 2)
    args.projects = list(dict.fromkeys(args.projects))
    args.targets = list(dict.fromkeys(args.targets))
    return args


def main() -> None:
    args = parse_args()

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # so that servers are stopped and the folder removed

    signal.signal(signal.SIGTERM, interrupt)
    with tempfile.TemporaryDirectory(prefix="reload-bench-") as folder:
        run(args, Path(folder))


if __name__ == "__main__":
    main()
