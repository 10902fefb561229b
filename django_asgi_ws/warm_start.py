"""Warm starts: the supervisor keeps a warm parent ready to fork the next server process.

The first warm parent imports what the supervisor itself imported (Django, the
installed apps' third-party packages, the server), less the project's own
modules; it starts beside the first server process, which starts in a new
interpreter. From then on each server process records, as it stops for a
reload, the modules it had imported; when they include some the warm parent
did not import, a new warm parent takes its place for the next start. One that
is tainted is replaced at once, without the module it blamed; one that finds a
package changed under it answers *stale* and that start falls back to a new
interpreter, while a new warm parent imports the new code.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from django.utils import autoreload

from django_asgi_ws.server_process import Program, WarmParent, WarmProcess

logger = logging.getLogger("django.utils.autoreload")

# Where a server process writes the modules it imported, for the next warm parent.
MODULES_FILE_ENV = "DJANGO_ASGI_WS_MODULES_FILE"


def can_fork() -> bool:
    """Warm starts where fork() is safe and tested: Linux."""
    return sys.platform == "linux" and hasattr(os, "fork")


class WarmStarts:
    """The supervisor's warm parent: started, replaced when needed, asked to fork."""

    def __init__(
        self,
        roots: Callable[[], list[str]],
        program: Program,
        pass_fds: tuple[int, ...],
    ) -> None:
        self._find_roots = roots
        self.program = program
        self.pass_fds = pass_fds
        self._environ: dict[str, str] = {}
        self._starts = 0
        self.preload: tuple[str, ...] = ()
        self.parent: WarmParent | None = None
        self.retired: list[WarmParent] = []  # replaced, but still the parent of a server process
        self.excluded: set[str] = set()  # modules that tainted a warm parent
        handle, self.modules_file = tempfile.mkstemp(prefix="runasgi-modules-", suffix=".json")
        os.close(handle)

    @classmethod
    def for_this_program(
        cls,
        roots: Callable[[], list[str]],
        pass_fds: tuple[int, ...],
        preload: tuple[str, ...] = (),
    ) -> WarmStarts | None:
        """None where a fork cannot stand in for a new interpreter.

        *roots* finds the project's folders, when first needed (it takes a while);
        *preload*: modules the first warm parent imports after the supervisor's own.
        """
        program = main_program()
        if program is None or not can_fork():
            return None
        warm_starts = cls(roots, program, pass_fds)
        warm_starts.preload = preload
        return warm_starts

    @functools.cached_property
    def roots(self) -> list[str]:
        """The project's folders, whose modules a warm parent never imports."""
        return self._find_roots()

    def start(self, environ: Mapping[str, str]) -> WarmProcess | None:
        """A server process forked by the warm parent; None if this start must be cold.

        *environ* is the server process's, from :meth:`environ`.
        """
        self._environ = dict(environ)
        parent = self.parent
        if parent is None:
            if self._starts:  # the first start leaves the cores to the server process
                self.prepare()
            self._starts += 1
            return None  # this start does not wait for it to import
        self._starts += 1
        recorded = importable_modules(read_recorded_modules(self.modules_file), self.roots)
        process = parent.start(environ)
        if process is None:
            self._replace(recorded or parent.modules, environ, refused=parent)
            return None
        known = {*parent.modules, *parent.loaded}
        if any(name not in known for name in recorded):
            self._replace(recorded, environ)  # this one stays, for the process it forked
        return process

    def prepare(self) -> None:
        """Start a warm parent now if there is none, so that it is ready for the next start."""
        if self.parent is None:
            recorded = importable_modules(read_recorded_modules(self.modules_file), self.roots)
            modules = recorded or [
                *importable_modules(loaded_modules(), self.roots),
                *self.preload,
            ]
            self._replace(modules, self._environ)

    def environ(self, environ: Mapping[str, str]) -> dict[str, str]:
        """A cold server process's environment: it records its modules too."""
        return {**environ, MODULES_FILE_ENV: self.modules_file}

    def parents_to_watch(self) -> list[WarmParent]:
        """Warm parents whose messages the supervisor should read while it waits."""
        parents = [parent for parent in self.retired if parent.busy]
        if self.parent is not None and not self.parent.ready:
            parents.append(self.parent)  # to replace it at once if it is tainted
        return parents

    def after_messages(self) -> None:
        """Replace a warm parent that reported it cannot serve; let idle retired ones go."""
        parent = self.parent
        reported = parent is not None and not parent.ready and parent.pending_report()
        if parent is not None and reported and not parent.read_report():
            self._replace(parent.modules, self._environ, refused=parent)
        for retired in [parent for parent in self.retired if not parent.busy]:
            retired.close()
            self.retired.remove(retired)

    def close(self) -> None:
        for parent in [*self.retired, self.parent]:
            if parent is not None:
                parent.close()
        with contextlib.suppress(OSError):
            os.unlink(self.modules_file)

    def _replace(
        self,
        modules: list[str],
        environ: Mapping[str, str],
        refused: WarmParent | None = None,
    ) -> None:
        if refused is not None:
            self._note_refusal(refused)
            if refused.busy:
                self.retired.append(refused)
            else:
                refused.close()
        elif self.parent is not None:
            self.retired.append(self.parent)
        environ = {**environ}
        environ.pop("DJANGO_SETTINGS_MODULE", None)
        self.parent = WarmParent(
            modules,
            roots=self.roots,
            excluded=sorted(self.excluded),
            environ=environ,
            program=self.program,
            pass_fds=self.pass_fds,
        )

    def _note_refusal(self, parent: WarmParent) -> None:
        refusal = parent.refusal or {}
        if "tainted" in refusal:
            self.excluded.add(refusal["tainted"])
            logger.debug(
                "runasgi's warm parent leaves %s out: it %s.",
                refusal["tainted"],
                refusal.get("reason"),
            )
        elif "stale" in refusal:
            logger.debug("%s changed: runasgi's warm parent imports again.", refusal["stale"])


def main_program() -> Program | None:
    """What a new interpreter would run; None if a fork cannot (an executable entry point)."""
    arguments = [str(argument) for argument in autoreload.get_child_arguments()]
    options = [argument for argument in arguments[1:] if argument[:2] in {"-W", "-X"}]
    rest = arguments[1 + len(options) :]
    if arguments[0] != sys.executable or not rest:
        return None
    if rest[0] == "-m":
        return Program(options, [rest[1], *rest[2:]], rest[1], os.getcwd())
    return Program(options, rest, None, os.path.dirname(os.path.realpath(rest[0])))


def importable_modules(
    modules: Iterable[tuple[str, str | None]], roots: Iterable[str]
) -> list[str]:
    """The names among (name, file) pairs a warm parent may import: none of the project's."""
    project = [Path(root) for root in roots]
    names = []
    for name, origin in modules:
        if not origin or not os.path.isabs(origin) or name == "__main__":
            continue
        path = Path(origin)
        if not any(path.is_relative_to(root) for root in project):
            names.append(name)
    return names


def loaded_modules() -> list[tuple[str, str | None]]:
    """(name, file) of every module imported in this process, in the order of import."""
    return [
        (name, getattr(getattr(module, "__spec__", None), "origin", None))
        for name, module in list(sys.modules.items())
    ]


def record_loaded_modules() -> None:
    """In a server process: write what it imported where the supervisor asked, if it did."""
    path = os.environ.get(MODULES_FILE_ENV)
    if path:
        with contextlib.suppress(OSError):
            Path(path).write_text(json.dumps(loaded_modules()))


def read_recorded_modules(path: str) -> list[tuple[str, str | None]]:
    try:
        return [(name, origin) for name, origin in json.loads(Path(path).read_text())]
    except (OSError, ValueError, TypeError):
        return []
