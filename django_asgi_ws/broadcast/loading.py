"""The Django side: ``WEBSOCKET_BROADCAST`` checked, loaded, opened at startup.

The one backend of the process is built from the setting at first use, opened
by the lifespan startup hook (or lazily), closed by the shutdown hook.
``find_problems`` is shared by the system checks and the loader, so that a
configuration the checks accept always loads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from django_asgi_ws import lifespan
from django_asgi_ws.broadcast import base, history, options
from django_asgi_ws.broadcast.backends import MEMORY
from django_asgi_ws.conf import conf

logger = logging.getLogger("django_asgi_ws.broadcast")

SETTING = "WEBSOCKET_BROADCAST"
KEYS = (
    "BACKEND",
    "LOCATION",
    "OPTIONS",
    "QUEUE_SIZE",
    "OVERFLOW",
    "PREFIX",
    "TIMEOUT",
    "HISTORY",
    "PRESENCE_TIMEOUT",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the setting, as a system check reports it."""

    id: str
    msg: str
    hint: str | None = None


def get_config() -> Any:
    return conf.WEBSOCKET_BROADCAST


def import_backend(path: object) -> type[base.Backend]:
    """The backend class at dotted *path*; ImproperlyConfigured saying what is wrong."""
    problem, backend_class = _import(path)
    if backend_class is None:
        raise ImproperlyConfigured(_text(problem))
    return backend_class


def create_backend(config: object = None) -> base.Backend:
    """A new backend built from *config* (default: the setting); ImproperlyConfigured if bad."""
    config = get_config() if config is None else config
    problems = find_problems(config)
    if problems:
        raise ImproperlyConfigured(_text(problems[0]))
    assert isinstance(config, Mapping)
    return import_backend(config.get("BACKEND", MEMORY)).from_config(config)


def find_problems(config: object) -> list[Problem]:
    """Everything wrong with a ``WEBSOCKET_BROADCAST`` value; empty when it loads."""
    if not isinstance(config, Mapping):
        return [
            Problem(
                id="django_asgi_ws.E020",
                msg=f"{SETTING} must be a dict; it is {config!r}.",
                hint=f'For example {SETTING} = {{"BACKEND": "{MEMORY}"}}.',
            )
        ]
    problems: list[Problem] = []
    unknown = sorted(str(key) for key in config if key not in KEYS)
    if unknown:
        problems.append(
            Problem(
                id="django_asgi_ws.E020",
                msg=f"{SETTING} has unknown keys: {', '.join(unknown)}.",
                hint=f"The keys are {', '.join(KEYS)}.",
            )
        )
    problem, backend_class = _import(config.get("BACKEND", MEMORY))
    problems.extend([problem] if problem else [])
    _check(problems, config, "QUEUE_SIZE", options.validate_queue_size, id="django_asgi_ws.E024")
    _check(problems, config, "OVERFLOW", options.validate_overflow, id="django_asgi_ws.E025")
    _check(problems, config, "PREFIX", options.validate_prefix, id="django_asgi_ws.E027")
    _check(problems, config, "TIMEOUT", options.validate_timeout, id="django_asgi_ws.E028")
    _check(problems, config, "HISTORY", history.validate_history, id="django_asgi_ws.E030")
    _check(
        problems,
        config,
        "PRESENCE_TIMEOUT",
        options.validate_presence_timeout,
        id="django_asgi_ws.E031",
    )
    if not isinstance(config.get("OPTIONS", {}), Mapping):
        problems.append(
            Problem(id="django_asgi_ws.E028", msg=f"{SETTING}['OPTIONS'] must be a dict.")
        )
    if backend_class is None:
        return problems
    if config.get("LOCATION") is not None:
        _check(
            problems, config, "LOCATION", backend_class.validate_location, id="django_asgi_ws.E026"
        )
    if not problems:
        try:
            backend_class.from_config(config)
        except ValueError as exc:
            problems.append(Problem(id="django_asgi_ws.E029", msg=str(exc)))
    return problems


def _check(
    problems: list[Problem],
    config: Mapping[str, Any],
    key: str,
    validate: Callable[[Any], object],
    *,
    id: str,
) -> None:
    if key in config:
        try:
            validate(config[key])
        except ValueError as exc:
            problems.append(Problem(id=id, msg=f"{SETTING}: {exc}"))


def _import(path: object) -> tuple[Problem | None, type[base.Backend] | None]:
    if not isinstance(path, str) or not path:
        return Problem(
            id="django_asgi_ws.E021",
            msg=f"{SETTING}['BACKEND'] must be the dotted path of a backend class; it is {path!r}.",
        ), None
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        missing = (getattr(exc, "name", None) or "").partition(".")[0]
        if missing == "redis":
            return _missing(path, "redis", "redis", id="django_asgi_ws.E022"), None
        if missing == "psycopg":
            return _missing(path, "psycopg", "postgres", id="django_asgi_ws.E023"), None
        return Problem(
            id="django_asgi_ws.E021",
            msg=f"{SETTING}['BACKEND'] {path!r} cannot be imported: {exc}",
            hint=f"The bundled backends are in django_asgi_ws.broadcast.backends, e.g. {MEMORY!r}.",
        ), None
    if not (isinstance(backend_class, type) and issubclass(backend_class, base.Backend)):
        return Problem(
            id="django_asgi_ws.E021",
            msg=f"{SETTING}['BACKEND'] {path!r} is not a subclass of "
            "django_asgi_ws.broadcast.base.Backend.",
        ), None
    return None, backend_class


def _missing(path: str, package: str, extra: str, *, id: str) -> Problem:
    return Problem(
        id=id,
        msg=f"{SETTING}['BACKEND'] is {path!r}, which needs the {package!r} package.",
        hint=f"pip install 'django-asgi-ws[{extra}]'",
    )


def _text(problem: Problem | None) -> str:
    assert problem is not None
    return f"{problem.msg} ({problem.id})" + (f" Hint: {problem.hint}" if problem.hint else "")


# The backend of the process ----------------------------------------------------

_backend: base.Backend | None = None
_retired: list[base.Backend] = []  # replaced under override_settings, still to close
_lock = threading.Lock()


def get_backend() -> base.Backend:
    """The process's backend, built from ``WEBSOCKET_BROADCAST`` at the first call."""
    global _backend
    with _lock:
        if _backend is None:
            _backend = create_backend()
        return _backend


async def aclose() -> None:
    """Close the process's backend; the next use builds a new one from the setting."""
    global _backend
    with _lock:
        backends = [*_retired, *([_backend] if _backend else [])]
        _backend = None
        _retired.clear()
    for backend in backends:
        await backend.close()


async def startup() -> None:
    """Lifespan startup hook: open the backend and check that its broker answers.

    An unreachable broker is logged, not raised: the server still starts, and
    the backend reconnects once the broker is back.
    """
    try:
        await get_backend().ping()
    except base.BroadcastError as exc:
        logger.warning("%s", exc)


async def shutdown() -> None:
    """Lifespan shutdown hook: end the subscriptions, close the connections."""
    await aclose()


def install_lifespan_hooks() -> None:
    """Open the backend at server startup and close it at shutdown (idempotent)."""
    if startup not in lifespan.startup_hooks:
        lifespan.on_startup(startup)
    if shutdown not in lifespan.shutdown_hooks:
        lifespan.on_shutdown(shutdown)


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    """Under override_settings, the next use builds a backend from the new value.

    The old one cannot be closed here, without its event loop: ``aclose()``
    closes it later.
    """
    global _backend
    if setting == SETTING:
        with _lock:
            if _backend is not None:
                _retired.append(_backend)
            _backend = None


setting_changed.connect(_setting_changed, dispatch_uid="django_asgi_ws.broadcast")
