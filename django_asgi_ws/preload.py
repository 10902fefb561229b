"""What runasgi's warm parent imports, and what it must refuse to hold.

:func:`preload` imports the modules the last server process used, away from the
project: its folders are off ``sys.path`` and ``DJANGO_SETTINGS_MODULE`` names
:mod:`django_asgi_ws.no_settings`, so that reading a setting raises. While it
imports, a finder at the head of ``sys.meta_path`` looks at the process before
every nested import; if, since the previous one, a thread started, a file
descriptor stayed open, a Twisted reactor was installed or a setting was read
(even by code that caught the error), the module imported last is *blamed*:
the warm parent is tainted and exits, and the next one refuses to import the
blamed module, so that every module importing it fails there too and is
imported by the server process itself, fresh. One offender (numpy starting its
BLAS threads, daphne creating its event loop) thus costs one restart of the
warm parent, not one per module that imports it.

:class:`Fingerprint` records what the imported modules were read from, so that
a package upgraded since (``pip install -U``) is noticed before a fork.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

# A module that runs a program when imported is never asked for.
PROGRAM_SUFFIX = "__main__"
# Modules known to install process-wide state when imported: Twisted's default
# reactor (an event loop and its files) and daphne's server (its asyncio reactor).
KNOWN_OFFENDERS = ("twisted.internet.reactor", "daphne.server")
# The modules whose body tried to read a setting (see django_asgi_ws.no_settings).
settings_read_by: list[str] = []


class Tainted(Exception):
    """The warm parent holds something a fork must not copy."""

    def __init__(self, blamed: str, reason: str) -> None:
        super().__init__(f"{blamed} {reason}")
        self.blamed = blamed
        self.reason = reason


class _Watchman(importlib.abc.MetaPathFinder):
    """Checks the process before each import; refuses the excluded modules."""

    def __init__(self, excluded: Sequence[str], project: list[str]) -> None:
        self.excluded = tuple(excluded)
        self.project = project
        self.fds = _open_fds()
        self.last = ""
        self.checked: set[str] = set(sys.modules)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        self.check()
        if any(fullname == name or fullname.startswith(name + ".") for name in self.excluded):
            raise ModuleNotFoundError(f"{fullname} is left out of runasgi's warm parent")
        self.last = fullname
        return None  # the usual finders find it

    def check(self) -> None:
        """Raise Tainted, blaming the module imported last, if the process changed for the worse."""
        reason = self._reason()
        if reason is not None:
            raise Tainted(self.last, reason)

    def check_settings_readers(self) -> None:
        """Raise Tainted if a module that read a setting stayed imported.

        Asked between imports: a module whose import failed after reading one
        is gone, and harmless.
        """
        readers = [name for name in settings_read_by if name in sys.modules]
        settings_read_by.clear()
        if readers:
            raise Tainted(readers[0], "read a setting")

    def _reason(self) -> str | None:
        from django.conf import settings

        if settings.configured:
            return "configured settings"
        if len(os.listdir("/proc/self/task")) != 1 or threading.active_count() != 1:
            return "started a thread"
        if _open_fds() - self.fds:
            return "left a file open"
        if "twisted.internet.reactor" in sys.modules:
            return "installed a Twisted reactor"
        for name in sys.modules.keys() - self.checked:
            self.checked.add(name)
            origin = _origin(sys.modules.get(name))
            if origin and any(_is_within(origin, root) for root in self.project):
                return f"imported the project's module {name}"
        return None


def preload(modules: Sequence[str], roots: Sequence[str], excluded: Sequence[str]) -> None:
    """Import *modules* in order, away from the project; raise Tainted if one must not stay.

    A module whose import fails is left out: the server process imports it
    itself, and fails or not as it would have.
    """
    project = [os.path.realpath(root) for root in roots]
    saved_path = sys.path[:]
    sys.path[:] = [
        entry
        for entry in sys.path
        if entry and os.path.realpath(entry) not in project and os.path.isdir(entry)
    ]
    os.environ["DJANGO_SETTINGS_MODULE"] = "django_asgi_ws.no_settings"
    watchman = _Watchman([*KNOWN_OFFENDERS, *excluded], project)
    sys.meta_path.insert(0, watchman)
    try:
        for name in modules:
            if name in sys.modules or name.endswith(PROGRAM_SUFFIX):
                continue
            try:
                importlib.import_module(name)
            except Tainted:
                raise
            except BaseException:
                sys.modules.pop(name, None)
            watchman.check()
            watchman.check_settings_readers()
    finally:
        sys.meta_path.remove(watchman)
        sys.path[:] = saved_path


class Fingerprint:
    """What the imported modules were read from: if any of it changed, a fork would be stale."""

    def __init__(self, stats: dict[str, tuple[int, int, int]]) -> None:
        self.stats = stats

    @classmethod
    def take(cls, roots: Sequence[str]) -> Fingerprint:
        project = [os.path.realpath(root) for root in roots]
        paths = {os.path.realpath(sys.executable)}
        for entry in sys.path:
            if entry and os.path.isdir(entry) and os.path.realpath(entry) not in project:
                paths.add(entry)  # a package installed or removed changes the folder
        for module in list(sys.modules.values()):
            origin = _origin(module)
            if origin:
                paths.add(origin)
        return cls({path: stat for path in paths if (stat := _stat(path)) is not None})

    def changed(self) -> str | None:
        """The first path that changed or vanished since, or None."""
        for path, before in self.stats.items():
            if _stat(path) != before:
                return path
        return None


def _origin(module: Any) -> str | None:
    origin = getattr(getattr(module, "__spec__", None), "origin", None)
    return origin if isinstance(origin, str) and os.path.isabs(origin) else None


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        result = os.stat(path)
    except OSError:
        return None
    return result.st_ino, result.st_size, result.st_mtime_ns


def _open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def _is_within(path: str, root: str) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(root)
