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
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

if TYPE_CHECKING:
    from django_asgi_ws.asgi_types import Scope
    from django_asgi_ws.conf import WebSocketSettings

security_logger = logging.getLogger("django_asgi_ws.security")

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


def check_host_and_origin(scope: Scope, settings: WebSocketSettings) -> HTTPStatus | None:
    """Refuse a repeated or disallowed Host (400) or a foreign Origin (403); None lets it in.

    Every refusal is logged on ``django_asgi_ws.security``.
    """
    raw_headers = scope.get("headers") or ()
    if not isinstance(raw_headers, (list, tuple)):
        raw_headers = list(raw_headers)
    # One dict() call in C rather than a Python loop over every header; a
    # repeated header, rare, shows as a shorter dict and is then looked into.
    headers = dict(raw_headers)
    if len(headers) != len(raw_headers):
        repeated = repeated_host_header(raw_headers)
        if repeated is not None:
            # Which one would a proxy, or Django, believe? Refuse rather than guess.
            security_logger.warning(
                "Refused websocket %s with more than one %s header.",
                scope.get("path"),
                repeated.decode(),
            )
            return HTTPStatus.BAD_REQUEST
    origin_header = headers.get(b"origin")
    origin = origin_header.decode("latin-1") if origin_header is not None else None
    host = get_raw_host(headers, scope, settings.use_x_forwarded_host)
    refusal = refusal_for(settings, host, origin)
    if refusal is None:
        return None
    if refusal is Refusal.HOST:
        security_logger.warning(
            "Invalid Host header %r for websocket %s: you may need to add it to ALLOWED_HOSTS.",
            host,
            scope.get("path"),
        )
        return HTTPStatus.BAD_REQUEST
    security_logger.warning(
        "Refused websocket %s from origin %r: not an allowed origin "
        "(see WEBSOCKET_ALLOWED_ORIGINS).",
        scope.get("path"),
        origin,
    )
    return HTTPStatus.FORBIDDEN


def repeated_host_header(raw_headers: Iterable[Iterable[bytes]]) -> bytes | None:
    """The name of a Host or X-Forwarded-Host header sent more than once, if any."""
    seen: set[bytes] = set()
    for name, _ in raw_headers:
        if name in _HOST_HEADERS:
            if name in seen:
                return name
            seen.add(name)
    return None


_HOST_HEADERS = frozenset({b"host", b"x-forwarded-host"})


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


class Refusal(enum.Enum):
    """Why a handshake's Host or Origin is refused."""

    HOST = "host"  # not in ALLOWED_HOSTS: 400
    ORIGIN = "origin"  # not an allowed origin: 403


# Keyed by the settings snapshot too, so a verdict never outlives the settings
# that gave it.
@functools.lru_cache(maxsize=1024)
def refusal_for(settings: WebSocketSettings, host: str, origin: str | None) -> Refusal | None:
    """The verdict on a handshake's Host and Origin, None if both are allowed.

    Cached: a site sees few distinct pairs, and both checks would otherwise
    cost more than everything else in a handshake. The cache is bounded, so
    made-up Host headers cannot grow it.
    """
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, allowed_hosts(settings)):
        return Refusal.HOST
    if not origin_policy(settings).allows(origin, host):
        return Refusal.ORIGIN
    return None


@functools.lru_cache(maxsize=1)
def origin_policy(settings: WebSocketSettings) -> OriginPolicy:
    """The origins *settings* allow."""
    allow_missing = settings.allow_missing_origin
    explicit = settings.allowed_origins
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
    exact, subdomains = _origin_patterns(settings.csrf_trusted_origins)
    hosts = allowed_hosts(settings)
    return OriginPolicy(
        allow_any=False,
        allow_missing=allow_missing,
        exact=exact,
        subdomains=subdomains,
        hosts=tuple(h for h in hosts if h != "*"),
        same_host="*" in hosts,
    )


def allowed_hosts(settings: WebSocketSettings) -> tuple[str, ...]:
    """ALLOWED_HOSTS as Django applies it, including its DEBUG default."""
    if settings.debug and not settings.allowed_hosts:
        return DEBUG_ALLOWED_HOSTS
    return settings.allowed_hosts
