"""Websocket routes live in an ordinary Django URLconf, resolved by Django."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.urls import URLPattern, URLResolver, converters, get_resolver
from django.urls import reverse as django_reverse
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, ResolverMatch, RoutePattern

from django_asgi_ws.conf import conf

__all__ = ["reverse"]


@functools.lru_cache(maxsize=1)
def get_urlconf() -> str:
    """WEBSOCKET_URLCONF, checked (cached; cleared on every settings change)."""
    urlconf = conf.WEBSOCKET_URLCONF
    if not urlconf or not isinstance(urlconf, str):
        raise ImproperlyConfigured(
            "WEBSOCKET_URLCONF must be the dotted path of a module with urlpatterns, "
            f"for example 'mysite.ws_urls'; it is {urlconf!r}."
        )
    return urlconf


def resolve(path_info: str, urlconf: str | None = None) -> ResolverMatch | None:
    """The route matching *path_info* (the path below the script prefix), or None.

    When every route of the URLconf uses Django's built-in path converters (or
    regular expressions), resolving is a pure function of the path, so the
    result is cached; each caller still gets a ResolverMatch of its own.
    """
    urlconf = urlconf or get_urlconf()
    key = (urlconf, path_info)
    match = _resolved.get(key, _MISSING)
    if match is _MISSING:
        match = _resolve(urlconf, path_info)
        if not has_pure_routes(urlconf):
            return match
        if len(_resolved) >= MAX_CACHED_PATHS:
            _resolved.clear()  # paths carry what clients choose: stay bounded
        _resolved[key] = match
    if match is None:
        return None
    fresh = object.__new__(ResolverMatch)
    fresh.__dict__.update(match.__dict__)  # args is a tuple, shared safely
    fresh.kwargs = dict(match.kwargs)
    return fresh


def _resolve(urlconf: str, path_info: str) -> ResolverMatch | None:
    try:
        return get_resolver(urlconf).resolve(path_info)
    except Resolver404:
        return None


MAX_CACHED_PATHS = 2048
_resolved: dict[tuple[str, str], Any] = {}
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


@functools.lru_cache(maxsize=16)
def has_pure_routes(urlconf: str) -> bool:
    """Whether resolving against *urlconf* depends on the path alone."""
    return _patterns_are_pure(get_resolver(urlconf).url_patterns)


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


def clear_cache(**kwargs: Any) -> None:
    """Forget cached resolutions (done on every settings change, for tests)."""
    _resolved.clear()
    has_pure_routes.cache_clear()
    get_urlconf.cache_clear()


setting_changed.connect(clear_cache)


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
