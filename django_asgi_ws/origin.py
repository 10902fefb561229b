"""Which hosts and origins may open a websocket: the defence against cross-site hijacking.

A browser sends cookies with a websocket handshake to any site, whichever page
opened it, and no same-origin policy applies to websockets. Without a check,
a page on another site could open a socket as the logged-in user. So, on by
default:

* the ``Host`` header is validated against ALLOWED_HOSTS, as Django does for
  every HTTP request (a mismatch is refused with 400);
* the ``Origin`` header, which browsers always send, must be allowed:
  WEBSOCKET_ALLOWED_ORIGINS if set, otherwise what ALLOWED_HOSTS and
  CSRF_TRUSTED_ORIGINS allow (a mismatch is refused with 403).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.signals import setting_changed
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from django_asgi_ws.conf import conf

if TYPE_CHECKING:
    from django_asgi_ws.asgi_types import Scope

# What Django allows when DEBUG is on and ALLOWED_HOSTS is empty.
DEBUG_ALLOWED_HOSTS = (".localhost", "127.0.0.1", "[::1]")
ORIGIN_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class OriginPolicy:
    """The origins one configuration allows; built once per settings change."""

    allow_any: bool
    allow_missing: bool
    exact: frozenset[str]
    # scheme -> domain patterns (".example.com") that match it and its subdomains
    subdomains: dict[str, tuple[str, ...]]
    # ALLOWED_HOSTS patterns an origin's host may match, whatever its scheme and port
    hosts: tuple[str, ...]
    # ALLOWED_HOSTS had "*": an origin must then be the host the client connected to
    same_host: bool

    def allows(self, origin: str | None, host: str) -> bool:
        """Whether a handshake with this Origin header, sent to *host*, may proceed."""
        if origin is None:
            return self.allow_missing
        if self.allow_any:
            return True
        origin = origin.strip().lower()
        if origin in self.exact:
            return True
        try:
            parts = urlsplit(origin)
            netloc = parts.netloc
            origin_host = parts.hostname
        except ValueError:
            return False
        if parts.scheme not in ORIGIN_SCHEMES or not netloc or origin_host is None:
            return False
        patterns = self.subdomains.get(parts.scheme, ())
        if any(is_same_domain(netloc, pattern) for pattern in patterns):
            return True
        domain, _ = split_domain_port(netloc)
        if domain and self.hosts and validate_host(domain, self.hosts):
            return True
        return self.same_host and netloc == host.lower()


def _origin_patterns(origins: Iterable[str]) -> tuple[frozenset[str], dict[str, tuple[str, ...]]]:
    """Split CSRF_TRUSTED_ORIGINS-style entries into exact origins and subdomain patterns."""
    exact: set[str] = set()
    subdomains: dict[str, list[str]] = {}
    for origin in origins:
        origin = origin.strip().lower()
        if "*" in origin:
            parts = urlsplit(origin)
            subdomains.setdefault(parts.scheme, []).append(parts.netloc.lstrip("*"))
        else:
            exact.add(origin.rstrip("/"))
    return frozenset(exact), {scheme: tuple(p) for scheme, p in subdomains.items()}


@functools.lru_cache(maxsize=1)
def get_origin_policy() -> OriginPolicy:
    """The policy for the current settings (cached; cleared when a test changes them)."""
    allow_missing = bool(conf.WEBSOCKET_ALLOW_MISSING_ORIGIN)
    explicit = conf.WEBSOCKET_ALLOWED_ORIGINS
    if explicit is not None:
        exact, subdomains = _origin_patterns(o for o in explicit if o != "*")
        return OriginPolicy(
            allow_any="*" in explicit,
            allow_missing=allow_missing,
            exact=exact,
            subdomains=subdomains,
            hosts=(),
            same_host=False,
        )
    exact, subdomains = _origin_patterns(settings.CSRF_TRUSTED_ORIGINS)
    hosts = allowed_hosts()
    return OriginPolicy(
        allow_any=False,
        allow_missing=allow_missing,
        exact=exact,
        subdomains=subdomains,
        hosts=tuple(h for h in hosts if h != "*"),
        same_host="*" in hosts,
    )


def allowed_hosts() -> list[str]:
    """ALLOWED_HOSTS as Django applies it, including its DEBUG default."""
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = list(DEBUG_ALLOWED_HOSTS)
    return hosts


def get_raw_host(headers: dict[bytes, bytes], scope: Scope, use_x_forwarded_host: bool) -> str:
    """The host the client asked for, found as ``HttpRequest.get_host()`` finds it."""
    host = None
    if use_x_forwarded_host:
        host = headers.get(b"x-forwarded-host")
    if host is None:
        host = headers.get(b"host")
    if host is not None:
        return host.decode("latin-1")
    server = scope.get("server") or ("", None)
    name, port = server[0], server[1]
    default_port = 443 if scope.get("scheme") == "wss" else 80
    return f"{name}:{port}" if port not in (None, default_port) else str(name)


def is_allowed_host(host: str) -> bool:
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed_hosts())


class Refusal(enum.Enum):
    """Why a handshake's Host or Origin is refused."""

    HOST = "host"  # not in ALLOWED_HOSTS: 400
    ORIGIN = "origin"  # not an allowed origin: 403


@functools.lru_cache(maxsize=1024)
def refusal_for(host: str, origin: str | None) -> Refusal | None:
    """The verdict on a handshake's Host and Origin, None if both are allowed.

    Cached: a site sees few distinct pairs, and both checks would otherwise
    cost more than everything else in a handshake. The cache is bounded, so
    made-up Host headers cannot grow it, and is cleared when the settings
    that decide change.
    """
    if not is_allowed_host(host):
        return Refusal.HOST
    if not get_origin_policy().allows(origin, host):
        return Refusal.ORIGIN
    return None


def _clear_cache(*, setting: str, **kwargs: Any) -> None:
    if setting in {
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "DEBUG",
        "WEBSOCKET_ALLOWED_ORIGINS",
        "WEBSOCKET_ALLOW_MISSING_ORIGIN",
    }:
        get_origin_policy.cache_clear()
        refusal_for.cache_clear()


setting_changed.connect(_clear_cache)
