#!/usr/bin/env python3
"""Compile the pinned requirements of the tox environments.

Every environment of tox.ini's ``env_list`` installs ``requirements/<env>.txt``
(``deps = -r requirements/{env_name}.txt``), and so does each environment outside
it that ``ENV_REQUIREMENTS`` names (``conformance``). Each file pins, to exact
versions, everything the environment installs:

- the package's dependencies and those of the extras the environment installs
  (``install_requires`` and ``extras_require`` of setup.cfg; ``extras`` and
  ``skip_install`` of tox.ini), so that installing the package's wheel into the
  environment afterwards changes nothing;
- the environment's own requirements: the Django series of a ``djangoXY``
  factor, and for the other environments the ``ENV_REQUIREMENTS`` below.

``requirements/pkg.txt`` pins the build backend (``[build-system] requires`` of
pyproject.toml) for the environment that builds the wheel (tox.ini's
``[pkgenv]`` ``constraints``).

The files come from ``uv pip compile``, for the Python version of the
environment: its ``pyXY`` factor or its ``base_python``. An environment that
runs on the interpreter tox itself runs on (no ``base_python``) gets a universal
resolution, from the oldest Python the package supports (``python_requires``)
up, with environment markers where versions differ. The others are resolved for
Linux, so that the files do not depend on the machine that compiles them.

Usage, from the repository root::

    python3 requirements/compile.py                  # every file, keeping the current pins
    python3 requirements/compile.py --upgrade        # every file, newest releases
    python3 requirements/compile.py types docs       # only these environments
    python3 requirements/compile.py -U py312-django52
    python3 requirements/compile.py -P django -P uvicorn   # newest of these packages only

Without ``--upgrade``, a pin that still satisfies the requirements is kept, and
only what the changed requirements need moves. uv is looked up in ``$UV``, then
in ``.venv-tox/bin`` (made by the test command of README.md), then on ``PATH``.
Only the standard library is needed to run this script.
"""

from __future__ import annotations

import argparse
import ast
import configparser
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"

# The name of the file of the wheel-building environment, and the command shown
# in the header of every compiled file.
PKG = "pkg"
COMPILE_COMMAND = "python3 requirements/compile.py"

# What an environment installs besides the package (and besides the Django
# series of a djangoXY factor, which is derived from the factor). A "-r" line
# names a file relative to the repository root.
ENV_REQUIREMENTS: dict[str, list[str]] = {
    "e2e": ["Django>=5.2,<5.3", "playwright>=1.45", "build>=1.6.1", "sphinx", "furo"],
    "bench": ["-r benchmarks/requirements.txt"],
    "lint": ["ruff>=0.17,<0.18", "build>=1.6.1", "twine>=6.1"],
    "types": ["mypy>=2.4,<2.5", "django-stubs>=6.1"],
    "docs": ["sphinx", "furo"],
    # Outside env_list. The servers of conformance/run.py's targets (uvicorn
    # comes with the package, daphne with its extra), and the virtualenv that
    # can still make the Python 2.7 environment of Autobahn|Testsuite.
    "conformance": ["virtualenv<20.22", "gunicorn>=23.0", "uvicorn-worker>=0.4"],
}

# Environments of env_list that install no pins: "floors" resolves the lowest
# version each requirement of setup.cfg allows (uv_resolution = lowest-direct).
UNPINNED_ENVS = ("floors",)

UNIT_ENV = re.compile(
    r"^py(?P<major>\d)(?P<minor>\d+)(?:-django(?P<dj_major>\d)(?P<dj_minor>\d))?$"
)
PYTHON_VERSION = re.compile(r"(\d+)\.(\d+)")


@dataclass
class Target:
    """One compiled file: its name, its Python version and what goes in."""

    name: str
    python: str
    universal: bool
    requirements: list[str]

    @property
    def output(self) -> Path:
        return REQUIREMENTS / f"{self.name}.txt"


def read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    with path.open(encoding="utf-8") as file:
        parser.read_file(file)
    return parser


def lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def expand(pattern: str) -> list[str]:
    """Expand tox's factor groups: ``py{310,311}-django42`` gives two names."""
    parts = re.split(r"\{([^{}]*)\}", pattern)
    choices = [
        [part] if i % 2 == 0 else [c.strip() for c in part.split(",")]
        for i, part in enumerate(parts)
    ]
    return ["".join(combination) for combination in itertools.product(*choices)]


def env_list(tox: configparser.ConfigParser) -> list[str]:
    names: list[str] = []
    for line in lines(tox.get("tox", "env_list")):
        for name in expand(line):
            if name not in names:
                names.append(name)
    return names


def env_value(tox: configparser.ConfigParser, env: str, key: str) -> str | None:
    """A key of [testenv:<env>], falling back on [testenv], as tox does."""
    for section in (f"testenv:{env}", "testenv"):
        if tox.has_option(section, key):
            return tox.get(section, key)
    return None


def package_requirements(setup: configparser.ConfigParser, extras: list[str]) -> list[str]:
    requirements = lines(setup.get("options", "install_requires", fallback=""))
    for extra in extras:
        if not setup.has_option("options.extras_require", extra):
            raise SystemExit(f"setup.cfg has no extra named {extra!r}")
        requirements += lines(setup.get("options.extras_require", extra))
    return list(dict.fromkeys(requirements))


def oldest_python(setup: configparser.ConfigParser) -> str:
    match = re.search(r">=\s*(\d+\.\d+)", setup.get("options", "python_requires", fallback=""))
    if not match:
        raise SystemExit("setup.cfg: python_requires gives no lower bound")
    return match.group(1)


def build_requirements() -> list[str]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    try:
        import tomllib
    except ImportError:  # Python 3.10: the one array this script needs.
        match = re.search(
            r"^\[build-system\][^\[]*?^requires\s*=\s*(\[[^\]]*\])", text, re.M | re.S
        )
        if not match:
            raise SystemExit("pyproject.toml: no [build-system] requires") from None
        return list(ast.literal_eval(match.group(1)))
    return list(tomllib.loads(text)["build-system"]["requires"])


def targets() -> list[Target]:
    setup = read_ini(ROOT / "setup.cfg")
    tox = read_ini(ROOT / "tox.ini")
    oldest = oldest_python(setup)
    found = [Target(PKG, oldest, True, build_requirements())]
    # env_list, then the environments outside it that pin their requirements too.
    names = env_list(tox)
    names += [
        env for env in ENV_REQUIREMENTS if env not in names and tox.has_section(f"testenv:{env}")
    ]
    for env in names:
        if env in UNPINNED_ENVS:
            continue
        requirements: list[str] = []
        if (env_value(tox, env, "skip_install") or "false").strip().lower() != "true":
            extras = re.split(r"[\s,]+", env_value(tox, env, "extras") or "")
            requirements += package_requirements(setup, [extra for extra in extras if extra])

        unit = UNIT_ENV.match(env)
        base_python = env_value(tox, env, "base_python")
        if unit:
            python = f"{unit['major']}.{unit['minor']}"
        elif base_python and (match := PYTHON_VERSION.search(base_python)):
            python = f"{match[1]}.{match[2]}"
        else:
            python = ""
        if unit and unit["dj_major"]:
            major, minor = int(unit["dj_major"]), int(unit["dj_minor"])
            requirements.append(f"Django>={major}.{minor},<{major}.{minor + 1}")
        elif env in ENV_REQUIREMENTS:
            requirements += ENV_REQUIREMENTS[env]
        elif not unit:
            raise SystemExit(
                f"{env}: add its requirements to ENV_REQUIREMENTS in {Path(__file__).name}"
            )
        found.append(Target(env, python or oldest, not python, requirements))
    return found


def find_uv() -> str:
    candidates = [
        os.environ.get("UV", ""),
        str(ROOT / ".venv-tox" / "bin" / "uv"),
        shutil.which("uv") or "",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit(
        "uv not found: run the test command of README.md first (it installs uv into .venv-tox), "
        "put uv on PATH, or set UV to its path"
    )


def compile_target(uv: str, target: Target, options: list[str]) -> None:
    command = [
        uv,
        "pip",
        "compile",
        "-",
        "--quiet",
        "--output-file",
        str(target.output.relative_to(ROOT)),
    ]
    command += ["--python-version", target.python]
    command += ["--universal"] if target.universal else ["--python-platform", "linux"]
    command += ["--custom-compile-command", COMPILE_COMMAND, *options]
    # uv needs no interpreter of that version to resolve; it must not download one.
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run(
        command,
        input="\n".join(target.requirements) + "\n",
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Pin the requirements of the tox environments with uv pip compile.",
    )
    parser.add_argument(
        "envs", nargs="*", metavar="ENV", help=f"only these environments ({PKG!r}: the wheel build)"
    )
    parser.add_argument(
        "-U", "--upgrade", action="store_true", help="move every pin to the newest release"
    )
    parser.add_argument(
        "-P",
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME",
        help="move this package to its newest release (repeatable)",
    )
    args = parser.parse_args()

    everything = targets()
    by_name = {target.name: target for target in everything}
    unknown = [name for name in args.envs if name not in by_name]
    if unknown:
        parser.error(f"not a pinned environment of tox.ini: {', '.join(unknown)}")
    chosen = [by_name[name] for name in args.envs] if args.envs else everything

    options = ["--upgrade"] if args.upgrade else []
    for package in args.upgrade_package:
        options += ["--upgrade-package", package]

    uv = find_uv()
    for target in chosen:
        started = time.monotonic()
        try:
            compile_target(uv, target, options)
        except subprocess.CalledProcessError as error:
            raise SystemExit(
                f"{target.output.relative_to(ROOT)}: uv pip compile failed ({error.returncode})"
            ) from None
        python = (
            f"Python >= {target.python}, universal"
            if target.universal
            else f"Python {target.python}"
        )
        print(f"{target.output.relative_to(ROOT)} ({python}): {time.monotonic() - started:.1f} s")

    known = {target.output for target in everything}
    for stray in sorted(set(REQUIREMENTS.glob("*.txt")) - known):
        print(
            f"{stray.relative_to(ROOT)}: no environment of tox.ini uses it any more",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
