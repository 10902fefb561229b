"""Websocket routes live in an ordinary Django URLconf, resolved by Django."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls import reverse as django_reverse
from django.urls.exceptions import Resolver404
from django.urls.resolvers import ResolverMatch

from django_asgi_ws.conf import conf


def get_urlconf() -> str:
    urlconf = conf.WEBSOCKET_URLCONF
    if not urlconf or not isinstance(urlconf, str):
        raise ImproperlyConfigured(
            "WEBSOCKET_URLCONF must be the dotted path of a module with urlpatterns, "
            f"for example 'mysite.ws_urls'; it is {urlconf!r}."
        )
    return urlconf


def resolve(path_info: str, urlconf: str | None = None) -> ResolverMatch | None:
    """The route matching *path_info* (the path below the script prefix), or None."""
    try:
        return get_resolver(urlconf or get_urlconf()).resolve(path_info)
    except Resolver404:
        return None


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
