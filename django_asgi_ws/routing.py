"""Websocket routes: the script prefix, the path below it and its route, resolved by Django.

Routes live in an ordinary Django URLconf named by ``WEBSOCKET_URLCONF``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, converters, get_resolver, set_script_prefix
from django.urls import reverse as django_reverse
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, ResolverMatch, RoutePattern

from django_asgi_ws.conf import WebSocketSettings, get_settings

if TYPE_CHECKING:
    from django_asgi_ws.asgi_types import Scope

__all__ = ["reverse"]


def route(scope: Scope, settings: WebSocketSettings) -> tuple[ResolverMatch, str] | None:
    """The route of a handshake and its path below the script prefix; None if it has none.

    Sets the script prefix, as Django's handler does for a request, so that
    ``reverse()`` in the view gives full paths.
    """
    script_name = settings.force_script_name or str(scope.get("root_path") or "")
    if script_name:
        # Without one, the prefix every context starts with, "/", is already right:
        # reading asgiref's per-context storage to check would cost more than the rest.
        set_script_prefix(script_name)
    path_info = get_path_info(scope, script_name)
    match = resolve(path_info, urlconf_of(settings))
    return None if match is None else (match, path_info)


def get_script_name(scope: Scope) -> str:
    """The script prefix, as Django's own ASGI handler computes it."""
    return get_settings().force_script_name or str(scope.get("root_path") or "")


def get_path_info(scope: Scope, script_name: str) -> str:
    """The decoded path below the script prefix; ``raw_path`` is never used."""
    path = str(scope["path"])
    if script_name and path.startswith(script_name):
        path = path[len(script_name) :]
    if not path.startswith("/"):
        path = "/" + path
    return path


def urlconf_of(settings: WebSocketSettings) -> str:
    """WEBSOCKET_URLCONF, or ImproperlyConfigured if it names no module."""
    urlconf = settings.urlconf
    if not urlconf or not isinstance(urlconf, str):
        raise ImproperlyConfigured(
            "WEBSOCKET_URLCONF must be the dotted path of a module with urlpatterns, "
            f"for example 'mysite.ws_urls'; it is {urlconf!r}."
        )
    return urlconf


def get_urlconf() -> str:
    """The current WEBSOCKET_URLCONF (see :func:`urlconf_of`)."""
    return urlconf_of(get_settings())


def resolve(path_info: str, urlconf: str | None = None) -> ResolverMatch | None:
    """The route matching *path_info* (the path below the script prefix), or None.

    When every route of the URLconf uses Django's built-in path converters (or
    regular expressions), resolving is a pure function of the path, so the
    result is cached until the settings change; each caller still gets a
    ResolverMatch of its own, whose dicts and lists it may change freely.
    """
    settings = get_settings()
    if _cache.settings is not settings:
        _cache.reset(settings)
    urlconf = urlconf or urlconf_of(settings)
    key = (urlconf, path_info)
    resolved = _cache.matches
    match = resolved.get(key, _MISSING)
    if match is _MISSING:
        match = _resolve(urlconf, path_info)
        if not has_pure_routes(urlconf):
            return match
        if len(resolved) >= MAX_CACHED_PATHS:
            resolved.clear()  # paths carry what clients choose: stay bounded
        resolved[key] = match
    if match is None:
        return None
    return _copy_match(match)


def _copy_match(match: ResolverMatch) -> ResolverMatch:
    """A ResolverMatch of the caller's own: its dicts and lists copied, the rest shared.

    The tried list's entries are the URLconf's own patterns, shared as they are.
    """
    fresh = object.__new__(ResolverMatch)
    attributes = fresh.__dict__
    attributes.update(match.__dict__)  # args is a tuple, shared safely
    attributes["kwargs"] = match.kwargs.copy()
    attributes["captured_kwargs"] = attributes["captured_kwargs"].copy()
    attributes["extra_kwargs"] = attributes["extra_kwargs"].copy()
    attributes["app_names"] = match.app_names.copy()
    attributes["namespaces"] = match.namespaces.copy()
    if match.tried is not None:
        attributes["tried"] = match.tried.copy()
    return fresh


def _resolve(urlconf: str, path_info: str) -> ResolverMatch | None:
    try:
        return get_resolver(urlconf).resolve(path_info)
    except Resolver404:
        return None


class _RouteCache:
    """Resolutions and URLconf purity, for the settings snapshot they were found under."""

    def __init__(self) -> None:
        self.settings: WebSocketSettings | None = None
        self.matches: dict[tuple[str, str], Any] = {}
        self.pure: dict[str, bool] = {}

    def reset(self, settings: WebSocketSettings) -> None:
        self.settings = settings
        self.matches = {}
        self.pure = {}


MAX_CACHED_PATHS = 2048
_cache = _RouteCache()
_MISSING = object()

# Converters whose to_python() depends on the matched text alone and returns an
# immutable value. A custom converter may query the database or return a model
# instance: a URLconf using one is resolved afresh every time.
_PURE_CONVERTERS = (
    converters.IntConverter,
    converters.StringConverter,
    converters.SlugConverter,
    converters.UUIDConverter,
    converters.PathConverter,
)


def has_pure_routes(urlconf: str) -> bool:
    """Whether resolving against *urlconf* depends on the path alone."""
    pure = _cache.pure.get(urlconf)
    if pure is None:
        pure = _cache.pure[urlconf] = _patterns_are_pure(get_resolver(urlconf).url_patterns)
    return pure


def _patterns_are_pure(patterns: Sequence[URLPattern | URLResolver]) -> bool:
    for entry in patterns:
        pattern = entry.pattern
        if isinstance(pattern, RoutePattern):
            if not all(type(c) in _PURE_CONVERTERS for c in pattern.converters.values()):
                return False
        elif not isinstance(pattern, RegexPattern):
            return False  # LocalePrefixPattern depends on the active language
        if isinstance(entry, URLResolver) and not _patterns_are_pure(entry.url_patterns):
            return False
    return True


def reverse(
    viewname: Any,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    current_app: str | None = None,
) -> str:
    """Like ``django.urls.reverse``, against WEBSOCKET_URLCONF."""
    return django_reverse(
        viewname, urlconf=get_urlconf(), args=args, kwargs=kwargs, current_app=current_app
    )


def iter_routes(
    patterns: Sequence[URLPattern | URLResolver], prefix: str = ""
) -> Iterator[tuple[str, Any]]:
    """Each route's full pattern text and target, through every include()."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from iter_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.callback
