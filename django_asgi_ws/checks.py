"""System checks: misconfiguration surfaces at ``manage.py check``, not at the first connection."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.core import checks

from django_asgi_ws.broadcast.checks import check_broadcast_settings
from django_asgi_ws.conf import DEFAULTS, conf
from django_asgi_ws.limits import parse_rate
from django_asgi_ws.loop_watchdog import valid_threshold
from django_asgi_ws.routing import iter_routes
from django_asgi_ws.servers.base import SERVER_NAMES
from django_asgi_ws.tickets.checks import check_deploy_ticket_cache, check_ticket_settings


def register_checks() -> None:
    """Register every check of the package; ``AppConfig.ready()`` calls it."""
    checks.register(check_urlconf, checks.Tags.urls)
    checks.register(check_websocket_library, checks.Tags.compatibility)
    checks.register(check_server_settings)
    checks.register(check_security_settings, checks.Tags.security)
    checks.register(check_deploy_origins, checks.Tags.security, deploy=True)
    checks.register(check_broadcast_settings)
    checks.register(check_ticket_settings, checks.Tags.security)
    checks.register(check_deploy_ticket_cache, checks.Tags.security, deploy=True)


def check_urlconf(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """E001 to E004: ``WEBSOCKET_URLCONF`` names a module of async routes."""
    urlconf = conf.WEBSOCKET_URLCONF
    if not urlconf or not isinstance(urlconf, str):
        return [
            checks.Error(
                f"WEBSOCKET_URLCONF must be the dotted path of a module; it is {urlconf!r}.",
                hint="Set WEBSOCKET_URLCONF = 'mysite.ws_urls' and define urlpatterns there.",
                id="django_asgi_ws.E001",
            )
        ]
    try:
        module = importlib.import_module(urlconf)
    except Exception as exc:
        return [
            checks.Error(
                f"WEBSOCKET_URLCONF {urlconf!r} cannot be imported: {type(exc).__name__}: {exc}",
                hint="Check the dotted path and that the module imports cleanly.",
                id="django_asgi_ws.E002",
            )
        ]
    patterns = getattr(module, "urlpatterns", None)
    if patterns is None or isinstance(patterns, (str, bytes)) or not hasattr(patterns, "__iter__"):
        return [
            checks.Error(
                f"The WEBSOCKET_URLCONF module {urlconf!r} has no urlpatterns list.",
                hint="Define urlpatterns = [path(...), ...] in it.",
                id="django_asgi_ws.E003",
            )
        ]
    errors: list[checks.CheckMessage] = []
    try:
        routes = list(iter_routes(list(patterns)))
    except Exception as exc:
        return [
            checks.Error(
                f"The websocket routes in {urlconf!r} cannot be loaded: "
                f"{type(exc).__name__}: {exc}",
                hint="Check the modules named in include().",
                id="django_asgi_ws.E002",
            )
        ]
    for route, target in routes:
        decorator = django_auth_decorator(target)
        if decorator is not None:
            errors.append(
                checks.Error(
                    f"The websocket route {route!r} is wrapped by Django's {decorator}, "
                    "which answers with a redirect to the login page: a websocket "
                    "cannot follow it, and every anonymous visitor would get an error.",
                    hint=f"Use django_asgi_ws.decorators.{decorator} instead.",
                    obj=target,
                    id="django_asgi_ws.E013",
                )
            )
        elif not iscoroutinefunction(target):
            name = getattr(target, "__qualname__", repr(target))
            errors.append(
                checks.Error(
                    f"The websocket route {route!r} points to {name}, which is not an "
                    "async function.",
                    hint="Declare the view with 'async def', or use WebSocketView.as_view().",
                    obj=target,
                    id="django_asgi_ws.E004",
                )
            )
    return errors


def django_auth_decorator(view: Any) -> str | None:
    """The decorator of ``django.contrib.auth.decorators`` wrapping *view*, if any.

    They all wrap the view through ``user_passes_test``, whose wrapper is found
    by its code's file; which one it was shows in the closure, where available.
    """
    module = sys.modules.get("django.contrib.auth.decorators")
    if module is None:
        return None  # never imported: no view uses it
    current, depth = view, 0
    while current is not None and depth < 20:
        code = getattr(current, "__code__", None)
        if code is not None and code.co_filename == module.__file__:
            return _decorator_name(current)
        current, depth = getattr(current, "__wrapped__", None), depth + 1
    return None


def _decorator_name(wrapper: Any) -> str:
    qualnames = []
    for cell in wrapper.__closure__ or ():
        with contextlib.suppress(ValueError):  # an empty cell
            qualnames.append(str(getattr(cell.cell_contents, "__qualname__", "")))
    for name in ("permission_required", "login_required"):
        if any(qualname.startswith(f"{name}.") for qualname in qualnames):
            return name
    return "user_passes_test"


def check_websocket_library(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """E005: uvicorn without websockets or wsproto serves upgrade requests as plain HTTP."""
    if importlib.util.find_spec("uvicorn") is None:
        return []
    if importlib.util.find_spec("websockets") or importlib.util.find_spec("wsproto"):
        return []
    return [
        checks.Error(
            "uvicorn is installed without a websocket library, so it would serve "
            "websocket requests as plain HTTP.",
            hint="pip install 'uvicorn[standard]' (or the websockets package).",
            id="django_asgi_ws.E005",
        )
    ]


def check_server_settings(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """E006 to E008, E014, E032 and E035 to E037: ``RUNASGI_SERVER``, the message size,
    the keepalive pings, the shutdown timeout, ``RUNASGI_WARM_START``, the blocked loop
    warning, the collector's threshold and the close timeout."""
    errors: list[checks.CheckMessage] = []
    if conf.RUNASGI_SERVER not in SERVER_NAMES:
        errors.append(
            checks.Error(
                f"RUNASGI_SERVER must be one of {', '.join(SERVER_NAMES)}; "
                f"it is {conf.RUNASGI_SERVER!r}.",
                id="django_asgi_ws.E006",
            )
        )
    if not isinstance(conf.RUNASGI_WARM_START, bool):
        errors.append(
            checks.Error(
                f"RUNASGI_WARM_START must be True or False; it is {conf.RUNASGI_WARM_START!r}.",
                hint="The default is True.",
                id="django_asgi_ws.E032",
            )
        )
    size = conf.WEBSOCKET_MAX_MESSAGE_SIZE
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        errors.append(
            checks.Error(
                f"WEBSOCKET_MAX_MESSAGE_SIZE must be a positive number of bytes; it is {size!r}.",
                hint="The default is 1048576 (1 MiB).",
                id="django_asgi_ws.E007",
            )
        )
    errors += _positive_seconds("WEBSOCKET_SHUTDOWN_TIMEOUT", id="django_asgi_ws.E014")
    errors += _positive_seconds("WEBSOCKET_CLOSE_TIMEOUT", id="django_asgi_ws.E037")
    threshold = conf.WEBSOCKET_GC_THRESHOLD
    if threshold is not None and (
        not isinstance(threshold, int) or isinstance(threshold, bool) or threshold <= 0
    ):
        errors.append(
            checks.Error(
                f"WEBSOCKET_GC_THRESHOLD must be a positive int or None; it is {threshold!r}.",
                hint="The default is 20000; None leaves the garbage collector as Python sets it.",
                id="django_asgi_ws.E036",
            )
        )
    blocked_loop_warning = conf.WEBSOCKET_BLOCKED_LOOP_WARNING
    if blocked_loop_warning is not None and not valid_threshold(blocked_loop_warning):
        errors.append(
            checks.Error(
                "WEBSOCKET_BLOCKED_LOOP_WARNING must be a positive number of seconds or "
                f"None; it is {blocked_loop_warning!r}.",
                hint="The default is 0.5; None reports no blocked event loop.",
                id="django_asgi_ws.E035",
            )
        )
    for name in ("WEBSOCKET_PING_INTERVAL", "WEBSOCKET_PING_TIMEOUT"):
        value = getattr(conf, name)
        if value is not None and (
            not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0
        ):
            errors.append(
                checks.Error(
                    f"{name} must be a positive number of seconds or None; it is {value!r}.",
                    id="django_asgi_ws.E008",
                )
            )
    return errors


def _positive_seconds(name: str, *, id: str) -> list[checks.CheckMessage]:
    """The error *id* unless the setting *name* is a positive number of seconds."""
    value = getattr(conf, name)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return []
    return [
        checks.Error(
            f"{name} must be a positive number of seconds; it is {value!r}.",
            hint=f"The default is {DEFAULTS[name]!r}.",
            id=id,
        )
    ]


def check_security_settings(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """E009 to E012: the origin allow-list, the handshake timeout and the rate limit."""
    errors: list[checks.CheckMessage] = []
    origins = conf.WEBSOCKET_ALLOWED_ORIGINS
    if origins is not None:
        if isinstance(origins, str) or not isinstance(origins, (list, tuple)):
            errors.append(
                checks.Error(
                    f"WEBSOCKET_ALLOWED_ORIGINS must be a list of origins or None; "
                    f"it is {origins!r}.",
                    hint='For example ["https://example.com", "https://*.example.com"].',
                    id="django_asgi_ws.E009",
                )
            )
        else:
            for origin in origins:
                if origin in ("*", "null"):
                    continue
                if not isinstance(origin, str) or "://" not in origin:
                    errors.append(
                        checks.Error(
                            f"The origin {origin!r} in WEBSOCKET_ALLOWED_ORIGINS has no scheme.",
                            hint="Write origins as scheme://host[:port], e.g. "
                            '"https://example.com", or "*" for any origin.',
                            id="django_asgi_ws.E009",
                        )
                    )
    if not isinstance(conf.WEBSOCKET_ALLOW_MISSING_ORIGIN, bool):
        errors.append(
            checks.Error(
                "WEBSOCKET_ALLOW_MISSING_ORIGIN must be True or False; "
                f"it is {conf.WEBSOCKET_ALLOW_MISSING_ORIGIN!r}.",
                id="django_asgi_ws.E010",
            )
        )
    timeout = conf.WEBSOCKET_HANDSHAKE_TIMEOUT
    if timeout is not None and (
        not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0
    ):
        errors.append(
            checks.Error(
                f"WEBSOCKET_HANDSHAKE_TIMEOUT must be a positive number of seconds or None; "
                f"it is {timeout!r}.",
                id="django_asgi_ws.E011",
            )
        )
    rate = conf.WEBSOCKET_RATE_LIMIT
    if rate is not None:
        try:
            parse_rate(rate)
        except ValueError as exc:
            errors.append(
                checks.Error(
                    f"WEBSOCKET_RATE_LIMIT is invalid: {exc}",
                    hint="Use None for no limit.",
                    id="django_asgi_ws.E012",
                )
            )
    return errors


def check_deploy_origins(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """W001 (``check --deploy``): an allow-all origin list undoes the hijacking defence."""
    origins = conf.WEBSOCKET_ALLOWED_ORIGINS
    if isinstance(origins, (list, tuple)) and "*" in origins:
        return [
            checks.Warning(
                'WEBSOCKET_ALLOWED_ORIGINS contains "*": any website can open websockets '
                "to this site with your users' cookies (cross-site websocket hijacking).",
                hint="List the origins of your own pages instead, or leave the setting "
                "unset to derive them from ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS.",
                id="django_asgi_ws.W001",
            )
        ]
    return []
