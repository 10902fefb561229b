#!/usr/bin/env python3
"""Run Autobahn|Testsuite's fuzzing client against the echo project on each server.

Each target is one way of serving ``conformance/site`` (a Django project whose
``/ws/echo/`` view sends every message back): ``manage.py runasgi`` on uvicorn
or daphne, and the production entry points. For each one this script starts
the server on a free port of 127.0.0.1, with its output in
``reports/<target>/server.log``, runs ``wstest -m fuzzingclient`` against it
(output in ``reports/<target>/wstest.log``, HTML report in
``reports/<target>/autobahn/index.html``), stops the server, and prints how many
cases of each group ended OK, NON-STRICT, INFORMATIONAL, UNIMPLEMENTED or
FAILED. It exits with 1 if a case FAILED, not every case ran, or a server did
not start; a target whose module does not exist is reported as not available.

Autobahn|Testsuite is Python 2 code: on first use the script makes a Python 2.7
virtualenv, ``conformance/.venv-ab27``, with virtualenv<20.22 (the last release
that can), and installs ``requirements-autobahn-py27.txt`` into it (about a
minute; a C compiler is needed). Python 2.7 is found with ``--python27``, the
``AUTOBAHN_PYTHON27`` variable, pyenv's versions (``$PYENV_ROOT``, ``pyenv
root``, ``~/.pyenv``), or ``python2.7`` on PATH. The script needs Python 3.10 or
later and only its standard library; the servers run on the interpreter that runs
it (``--python`` names another).

Usage, from the repository root (``.venv-tox/bin/tox -e conformance`` runs it
with the pinned servers)::

    python conformance/run.py                          # every target, profile "standard"
    python conformance/run.py runasgi-uvicorn          # some targets
    python conformance/run.py --profile quick          # without 9.* (limits, performance)
    python conformance/run.py --cases 7.1.5 --cases '5.*' runasgi-daphne
    python conformance/run.py --list                   # the targets and the profiles

Profiles: "quick" excludes 9.*, 12.* and 13.*; "standard" excludes 12.* and
13.* (permessage-deflate: the Python 2 client compresses slowly, and daphne does
not negotiate it); "full" runs every case.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
SITE = HERE / "site"
SPEC_TEMPLATE = HERE / "fuzzingclient.json"
REQUIREMENTS_27 = HERE / "requirements-autobahn-py27.txt"
VENV_27 = HERE / ".venv-ab27"
VENV_TOOLS = HERE / ".venv-tools"
HOST = "127.0.0.1"
PATH = "/ws/echo/"


@dataclass(frozen=True)
class Target:
    """One way of serving the echo project.

    ``command`` is run in ``conformance/site``, with ``{python}``, ``{host}`` and
    ``{port}`` filled in. ``requires`` names what must exist in the servers'
    Python for the target to be available: a module, or ``module:attribute``.
    ``exclude`` adds cases to the profile's exclusions for this target only.
    """

    description: str
    command: tuple[str, ...]
    requires: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


TARGETS: dict[str, Target] = {
    "runasgi-uvicorn": Target(
        "python manage.py runasgi --server uvicorn",
        ("{python}", "manage.py", "runasgi", "--noreload", "--server", "uvicorn", "{host}:{port}"),
        requires=("uvicorn", "django_asgi_ws.servers.uvicorn_server"),
    ),
    "runasgi-daphne": Target(
        "python manage.py runasgi --server daphne",
        ("{python}", "manage.py", "runasgi", "--noreload", "--server", "daphne", "{host}:{port}"),
        requires=("daphne", "django_asgi_ws.servers.daphne_server"),
    ),
    "uvicorn": Target(
        "uvicorn with the package's websocket protocol",
        (
            "{python}",
            "-m",
            "uvicorn",
            "echosite.asgi:application",
            "--ws",
            "django_asgi_ws.servers.uvicorn:WebSocketProtocol",
            "--host",
            "{host}",
            "--port",
            "{port}",
        ),
        requires=("uvicorn", "django_asgi_ws.servers.uvicorn:WebSocketProtocol"),
    ),
    "gunicorn": Target(
        "gunicorn with the package's uvicorn worker",
        (
            "{python}",
            "-m",
            "gunicorn",
            "echosite.asgi:application",
            "-k",
            "django_asgi_ws.servers.uvicorn.UvicornWorker",
            "--bind",
            "{host}:{port}",
            "--workers",
            "1",
        ),
        requires=("gunicorn", "django_asgi_ws.servers.uvicorn:UvicornWorker"),
    ),
    "daphne": Target(
        "daphne through the package's python -m entry point",
        (
            "{python}",
            "-m",
            "django_asgi_ws.servers.daphne",
            "echosite.asgi:application",
            "-b",
            "{host}",
            "-p",
            "{port}",
        ),
        requires=("daphne", "django_asgi_ws.servers.daphne"),
    ),
}

PROFILES: dict[str, list[str]] = {
    "quick": ["9.*", "12.*", "13.*"],
    "standard": ["12.*", "13.*"],
    "full": [],
}

# The suite's groups (there are no groups 8 and 11).
GROUPS = {
    "1": "Framing",
    "2": "Pings/Pongs",
    "3": "Reserved Bits",
    "4": "Opcodes",
    "5": "Fragmentation",
    "6": "UTF-8 Handling",
    "7": "Close Handling",
    "9": "Limits/Performance",
    "10": "Auto-Fragmentation",
    "12": "WebSocket Compression",
    "13": "WebSocket Compression (parameters)",
}
BEHAVIORS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
# What the suite's report does not show as a failure; any other behavior
# (FAILED, or one this script does not know) fails the run.
PASSING = {"OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "NO CLOSE"}
# Closing behaviors the report shows in red: listed, but they do not fail the run
# (the case's own behavior says whether the close was wrong enough to matter).
BAD_CLOSES = {"FAILED", "UNCLEAN"}

# Versions worth reporting, read in the servers' Python.
VERSIONS_OF = ["django-asgi-ws", "Django", "uvicorn", "websockets", "daphne", "Twisted", "gunicorn"]

# Whether the things a target requires exist: exit 0 if they all do, 3 (and
# the reason on stdout) if one does not, anything else if looking failed.
CHECK_REQUIREMENTS = r"""
import importlib, importlib.util, sys
for spec in sys.argv[1:]:
    module, _, attribute = spec.partition(":")
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        print("no module " + module)
        sys.exit(3)
    if attribute and not hasattr(importlib.import_module(module), attribute):
        print(module + " has no " + attribute)
        sys.exit(3)
"""

READ_VERSIONS = r"""
import json, sys
from importlib import metadata
versions = {}
for name in sys.argv[1:]:
    try:
        versions[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
print(json.dumps(versions))
"""


class SetupError(Exception):
    """Something this script needs is missing or could not be made."""


@dataclass
class Outcome:
    name: str
    status: str  # passed | failed | error | not available
    detail: str = ""
    seconds: float = 0.0
    table: str = ""


# Processes -------------------------------------------------------------------------------------


@contextmanager
def started(argv: list[str], log: IO[bytes], **kwargs: object) -> Iterator[subprocess.Popen[bytes]]:
    """Run *argv* in a process group of its own, writing to *log*; stop the group at the end."""
    process = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
    )
    try:
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM to the process's group, then SIGKILL to whatever is left of it."""
    if process.poll() is None:
        signal_group(process, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    signal_group(process, signal.SIGKILL)  # workers that outlived their parent, if any
    process.wait()


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def terminate_on_sigterm() -> None:
    """Let SIGTERM unwind like Ctrl-C does, so that every started process is stopped."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


# The Python 2.7 virtualenv with wstest ---------------------------------------------------------


def find_python27(explicit: str | None) -> str:
    if explicit:
        return explicit
    if os.environ.get("AUTOBAHN_PYTHON27"):
        return os.environ["AUTOBAHN_PYTHON27"]
    candidates: list[Path] = []
    roots = [os.environ.get("PYENV_ROOT", "")]
    if shutil.which("pyenv"):
        answer = subprocess.run(["pyenv", "root"], capture_output=True, text=True)
        roots.append(answer.stdout.strip())
    roots.append(str(Path.home() / ".pyenv"))
    for root in filter(None, roots):
        candidates += sorted(
            Path(root, "versions").glob("2.7.*/bin/python2.7"),
            key=lambda path: [int(part) for part in re.findall(r"\d+", path.parent.parent.name)],
            reverse=True,
        )
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("python2.7")
    if found:
        return found
    raise SetupError(
        "Python 2.7 not found: install it (pyenv install 2.7.18), then pass --python27 PATH "
        "or set AUTOBAHN_PYTHON27 if it is not among pyenv's versions"
    )


def virtualenv_command() -> list[str]:
    """A virtualenv that can still make Python 2.7 environments (< 20.22)."""
    try:
        from importlib import metadata

        version = metadata.version("virtualenv")
    except Exception:
        version = ""
    if version and [int(part) for part in re.findall(r"\d+", version)[:2]] < [20, 22]:
        return [sys.executable, "-m", "virtualenv"]
    tool = VENV_TOOLS / "bin" / "virtualenv"
    if not tool.exists():
        print(f"Making {VENV_TOOLS.relative_to(HERE.parent)} for virtualenv<20.22", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV_TOOLS)], check=True)
        subprocess.run(
            [str(VENV_TOOLS / "bin" / "pip"), "install", "--quiet", "virtualenv<20.22"],
            check=True,
        )
    return [str(tool)]


def ensure_wstest(python27: str | None) -> Path:
    """conformance/.venv-ab27/bin/wstest, made or brought up to date with the pins."""
    wstest = VENV_27 / "bin" / "wstest"
    stamp = VENV_27 / ".requirements-sha256"
    wanted = hashlib.sha256(REQUIREMENTS_27.read_bytes()).hexdigest()
    if wstest.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return wstest
    started_at = time.monotonic()
    try:
        if not (VENV_27 / "bin" / "python").exists():
            interpreter = find_python27(python27)
            print(f"Making {VENV_27.relative_to(HERE.parent)} with {interpreter}", flush=True)
            subprocess.run(
                [*virtualenv_command(), "--quiet", "-p", interpreter, str(VENV_27)], check=True
            )
        print(f"Installing {REQUIREMENTS_27.name} (Python 2.7)", flush=True)
        subprocess.run(
            [
                str(VENV_27 / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-python-version-warning",
                "-r",
                str(REQUIREMENTS_27),
            ],
            check=True,
        )
    except subprocess.CalledProcessError as error:
        raise SetupError(f"making the Python 2.7 virtualenv failed: {error}") from None
    stamp.write_text(wanted + "\n")
    print(f"Autobahn|Testsuite installed in {time.monotonic() - started_at:.0f} s", flush=True)
    return wstest


# One target ------------------------------------------------------------------------------------


def server_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    path = [str(SITE), *filter(None, [env.get("PYTHONPATH", "")])]
    env.update(
        PYTHONPATH=os.pathsep.join(path),
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="echosite.settings",
    )
    return env


def availability(target: Target, python: str) -> tuple[bool, str]:
    """Whether the target can run; why not, or the error of looking."""
    if not target.requires:
        return True, ""
    answer = subprocess.run(
        [python, "-c", CHECK_REQUIREMENTS, *target.requires],
        cwd=SITE,
        env=server_env(),
        capture_output=True,
        text=True,
    )
    if answer.returncode == 0:
        return True, ""
    if answer.returncode == 3:
        return False, answer.stdout.strip()
    raise SetupError(f"checking {', '.join(target.requires)} failed:\n{answer.stderr.strip()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def handshake_status(port: int) -> str | None:
    """The status line the echo view answers a websocket handshake with; None if none came."""
    request = (
        f"GET {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: Y29uZm9ybWFuY2UtY2hrIQ==\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection((HOST, port), timeout=5) as sock:
            sock.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                head += chunk
            status = head.split(b"\r\n", 1)[0].decode("latin-1")
            if status.startswith("HTTP/1.1 101"):
                # A masked close frame (mask 0, code 1000), then the server's reply.
                sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")
                sock.recv(4096)
            return status
    except OSError:
        return None


def wait_until_serving(process: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SetupError(f"the server exited with {process.returncode} before serving")
        status = handshake_status(port)
        if status is not None:
            if not status.startswith("HTTP/1.1 101"):
                raise SetupError(f"the server answered the handshake with {status!r}")
            return
        time.sleep(0.2)
    raise SetupError(f"the server did not answer a websocket handshake within {timeout:.0f} s")


def write_spec(name: str, port: int, outdir: Path, cases: list[str], exclude: list[str]) -> Path:
    spec = json.loads(SPEC_TEMPLATE.read_text())
    spec["outdir"] = str(outdir)
    spec["servers"][0].update(agent=name, url=f"ws://{HOST}:{port}{PATH}")
    spec["cases"] = cases
    spec["exclude-cases"] = exclude
    path = outdir.parent / "fuzzingclient.json"
    path.write_text(json.dumps(spec, indent=2) + "\n")
    return path


def run_wstest(wstest: Path, spec: Path, log_path: Path, timeout: float) -> int:
    """The number of cases wstest set out to run."""
    with (
        log_path.open("wb") as log,
        started(
            [str(wstest), "-m", "fuzzingclient", "-s", str(spec)], log, cwd=spec.parent
        ) as process,
    ):
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise SetupError(f"wstest did not finish within {timeout:.0f} s") from None
    match = re.search(r"will run (\d+) test cases", log_path.read_text(errors="replace"))
    if process.returncode != 0 or match is None:
        raise SetupError(f"wstest failed (exit {process.returncode}); see {log_path}")
    return int(match.group(1))


def group_of(case: str) -> str:
    return case.split(".", 1)[0]


def summarize(results: dict[str, dict[str, object]]) -> dict[str, dict[str, int]]:
    """Per group, how many cases ended with each behavior."""
    groups: dict[str, dict[str, int]] = {}
    for case, result in results.items():
        counts = groups.setdefault(group_of(case), dict.fromkeys(BEHAVIORS, 0))
        behavior = str(result.get("behavior"))
        counts[behavior] = counts.get(behavior, 0) + 1
    return dict(sorted(groups.items(), key=lambda item: int(item[0])))


def format_table(groups: dict[str, dict[str, int]]) -> str:
    columns = list(BEHAVIORS)
    for counts in groups.values():
        columns += [behavior for behavior in counts if behavior not in columns]
    header = ["group", "cases", *columns]
    rows = [
        [f"{group}.* {GROUPS.get(group, '')}".strip(), str(sum(counts.values()))]
        + [str(counts.get(column, 0)) for column in columns]
        for group, counts in groups.items()
    ]
    totals = [sum(counts.get(column, 0) for counts in groups.values()) for column in columns]
    rows.append(["all", str(sum(totals)), *map(str, totals)])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cells[i].rjust(widths[i]) for i in range(1, len(cells)))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *map(line, rows[:-1]), rule, line(rows[-1])])


def describe(case: str, result: dict[str, object]) -> str:
    return (
        f"{case}: behavior {result.get('behavior')}, close {result.get('behaviorClose')}, "
        f"server's close code {result.get('remoteCloseCode')}"
    )


def in_order(results: dict[str, dict[str, object]]) -> list[tuple[str, dict[str, object]]]:
    return sorted(results.items(), key=lambda item: [int(part) for part in item[0].split(".")])


def failed_cases(results: dict[str, dict[str, object]]) -> list[str]:
    return [
        describe(case, result)
        for case, result in in_order(results)
        if result.get("behavior") not in PASSING
    ]


def bad_closes(results: dict[str, dict[str, object]]) -> list[str]:
    return [
        describe(case, result)
        for case, result in in_order(results)
        if result.get("behavior") in PASSING and result.get("behaviorClose") in BAD_CLOSES
    ]


def run_target(
    name: str,
    target: Target,
    *,
    python: str,
    wstest: Path,
    reports: Path,
    options: argparse.Namespace,
) -> Outcome:
    started_at = time.monotonic()
    available, why = availability(target, python)
    if not available:
        return Outcome(name, "not available", why)
    directory = reports / name
    if directory.exists():
        shutil.rmtree(directory)
    outdir = directory / "autobahn"
    outdir.mkdir(parents=True)
    port = free_port()
    argv = [part.format(python=python, host=HOST, port=port) for part in target.command]
    exclude = [*(options.exclude if options.exclude is not None else PROFILES[options.profile])]
    exclude += [case for case in target.exclude if case not in exclude]
    spec = write_spec(name, port, outdir, options.cases or ["*"], exclude)
    server_log = directory / "server.log"
    print(f"\n=== {name}: {target.description}", flush=True)
    print(
        f"    {' '.join(argv)}  (in {SITE.relative_to(HERE.parent)}, log {server_log})", flush=True
    )
    try:
        with server_log.open("wb") as log, started(argv, log, cwd=SITE, env=server_env()) as server:
            wait_until_serving(server, port, options.start_timeout)
            expected = run_wstest(wstest, spec, directory / "wstest.log", options.timeout)
            if server.poll() is not None:
                raise SetupError(f"the server exited with {server.returncode} during the run")
    except SetupError as error:
        return Outcome(name, "error", str(error), time.monotonic() - started_at)
    seconds = time.monotonic() - started_at
    index = json.loads((outdir / "index.json").read_text())
    results: dict[str, dict[str, object]] = index.get(name, {})
    groups = summarize(results)
    table = format_table(groups)
    (directory / "summary.txt").write_text(table + "\n")
    (directory / "summary.json").write_text(json.dumps(groups, indent=2) + "\n")
    print(table, flush=True)
    failed = failed_cases(results)
    for line in failed:
        print(f"    FAILED {line}", flush=True)
    for line in bad_closes(results):
        print(f"    note: {line}", flush=True)
    detail = f"{len(results)} cases, {len(failed)} FAILED"
    if len(results) != expected:
        return Outcome(
            name, "error", f"{detail}; only {len(results)} of {expected} ran", seconds, table
        )
    return Outcome(name, "failed" if failed else "passed", detail, seconds, table)


# Main ------------------------------------------------------------------------------------------


def server_versions(python: str) -> dict[str, str]:
    answer = subprocess.run(
        [python, "-c", READ_VERSIONS, *VERSIONS_OF], capture_output=True, text=True, check=True
    )
    versions: dict[str, str] = json.loads(answer.stdout)
    return versions


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Autobahn|Testsuite's fuzzing client against the echo project on each server.",
        epilog="Targets: " + ", ".join(TARGETS) + ". Profiles: " + ", ".join(PROFILES) + ".",
    )
    parser.add_argument("targets", nargs="*", metavar="TARGET", help="default: every target")
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default=os.environ.get("AUTOBAHN_PROFILE", "standard"),
        help="which groups to exclude (default: standard, or $AUTOBAHN_PROFILE)",
    )
    parser.add_argument(
        "--cases",
        action="append",
        metavar="CASE",
        help="run only these cases (repeatable; wildcards as in the spec: '5.*')",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        metavar="CASE",
        help="exclude these cases instead of the profile's (repeatable)",
    )
    parser.add_argument("--python27", help="the Python 2.7 interpreter for the suite's virtualenv")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter that runs the servers (default: this one)",
    )
    parser.add_argument(
        "--reports", type=Path, default=HERE / "reports", help="default: conformance/reports"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds for one target's run (default 1800)"
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=60,
        help="seconds a server has to answer a handshake (default 60)",
    )
    parser.add_argument("--list", action="store_true", help="list the targets and the profiles")
    options = parser.parse_args()
    unknown = [name for name in options.targets if name not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose among {', '.join(TARGETS)}")
    return options


def main() -> int:
    options = parse_args()
    if options.list:
        for name, target in TARGETS.items():
            print(f"{name:18} {target.description}")
            print(f"{'':18} {' '.join(target.command)}")
        for profile, excluded in PROFILES.items():
            print(f"profile {profile}: excludes {', '.join(excluded) or 'nothing'}")
        return 0
    terminate_on_sigterm()
    names = options.targets or list(TARGETS)
    reports: Path = options.reports.resolve()
    reports.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    try:
        wstest = ensure_wstest(options.python27)
        versions = server_versions(options.python)
    except SetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    (reports / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
    print("Servers: " + ", ".join(f"{name} {version}" for name, version in versions.items()))
    suite = subprocess.run([str(wstest), "-a"], capture_output=True, text=True).stdout.split()
    print("Client: " + " ".join(suite))
    print(f"Profile: {options.profile}" + (f", cases {options.cases}" if options.cases else ""))

    outcomes: list[Outcome] = []
    for name in names:
        try:
            outcome = run_target(
                name,
                TARGETS[name],
                python=options.python,
                wstest=wstest,
                reports=reports,
                options=options,
            )
        except SetupError as error:
            outcome = Outcome(name, "error", str(error))
        if outcome.status in ("not available", "error"):
            print(f"\n=== {name}: {outcome.status}: {outcome.detail}", flush=True)
        outcomes.append(outcome)

    print("\nSummary:")
    for outcome in outcomes:
        timing = f" in {outcome.seconds:.0f} s" if outcome.seconds else ""
        print(f"  {outcome.name:18} {outcome.status}{timing}: {outcome.detail}")
    print(f"  total {time.monotonic() - began:.0f} s; reports in {reports}")
    return 1 if any(outcome.status in ("failed", "error") for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
