"""System checks for the ticket settings (ids django_asgi_ws.E033, E034, W033 and W034)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from django_asgi_ws.conf import conf


def check_ticket_settings(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """E033: ``WEBSOCKET_TICKET_MAX_AGE``; E034: ``WEBSOCKET_TICKET_CACHE``."""
    errors: list[checks.CheckMessage] = []
    max_age = conf.WEBSOCKET_TICKET_MAX_AGE
    if not isinstance(max_age, (int, float)) or isinstance(max_age, bool) or max_age <= 0:
        errors.append(
            checks.Error(
                f"WEBSOCKET_TICKET_MAX_AGE must be a positive number of seconds; "
                f"it is {max_age!r}.",
                hint="The default is 60: a ticket is meant to be used as soon as it is issued.",
                id="django_asgi_ws.E033",
            )
        )
    alias = conf.WEBSOCKET_TICKET_CACHE
    if not isinstance(alias, str) or alias not in settings.CACHES:
        errors.append(
            checks.Error(
                f"WEBSOCKET_TICKET_CACHE must be the alias of a cache in CACHES; it is {alias!r}.",
                hint=f"The aliases in CACHES are {', '.join(map(repr, settings.CACHES))}.",
                id="django_asgi_ws.E034",
            )
        )
    return errors


def check_deploy_ticket_cache(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """W033, W034 (``check --deploy``): a cache that cannot enforce single-use tickets.

    Warnings, not errors: a project that issues no single-use ticket does not
    need the cache at all, and nothing here can tell.
    """
    alias = conf.WEBSOCKET_TICKET_CACHE
    backend = _backend_class(alias)
    if backend is None:
        return []
    from django.core.cache.backends.dummy import DummyCache
    from django.core.cache.backends.locmem import LocMemCache

    if issubclass(backend, LocMemCache):
        return [
            checks.Warning(
                f"WEBSOCKET_TICKET_CACHE {alias!r} is a LocMemCache, which each server "
                "process keeps to itself: a single-use ticket can be used once per process.",
                hint="Point it at a cache every server process shares (Redis, Memcached, "
                "the database), or silence this warning if you issue no single-use tickets.",
                id="django_asgi_ws.W033",
            )
        ]
    if issubclass(backend, DummyCache):
        return [
            checks.Warning(
                f"WEBSOCKET_TICKET_CACHE {alias!r} is a DummyCache, which stores nothing: "
                "issuing or presenting a single-use ticket raises ImproperlyConfigured.",
                hint="Point it at a cache every server process shares (Redis, Memcached, "
                "the database), or silence this warning if you issue no single-use tickets.",
                id="django_asgi_ws.W034",
            )
        ]
    return []


def _backend_class(alias: object) -> type | None:
    """The BACKEND class of the cache *alias*, None if E034 or Django's own checks apply."""
    if not isinstance(alias, str):
        return None
    config = settings.CACHES.get(alias)
    if not isinstance(config, dict):
        return None
    try:
        backend = import_string(config.get("BACKEND", ""))
    except ImportError:
        return None
    return backend if isinstance(backend, type) else None
