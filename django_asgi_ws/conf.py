"""Every setting the package reads: the defaults, the raw values, one typed snapshot.

``get_settings()`` reads every setting once into a :class:`WebSocketSettings` and
keeps it until a setting changes (``override_settings`` and pytest-django's
``settings`` fixture send ``setting_changed``), so the per-handshake paths read
plain attributes rather than Django's lazy settings. What is derived from the
settings (the origin policy, the connection limits, the route cache) is cached
per snapshot, so this module's receiver is the only one to forget them.

The raw values, exactly as the project set them, are on ``conf``; the system
checks read them there to report a wrong type before anything uses it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

#: Every setting of the package with its default, the one place defaults live.
DEFAULTS: Mapping[str, object] = {
    "WEBSOCKET_URLCONF": None,
    "RUNASGI_SERVER": "uvicorn",
    "RUNASGI_WARM_START": True,
    "ASGI_APPLICATION": None,
    "WEBSOCKET_MAX_MESSAGE_SIZE": 1024 * 1024,
    "WEBSOCKET_PING_INTERVAL": 20.0,
    "WEBSOCKET_PING_TIMEOUT": 20.0,
    "WEBSOCKET_ALLOWED_ORIGINS": None,
    "WEBSOCKET_ALLOW_MISSING_ORIGIN": True,
    "WEBSOCKET_HANDSHAKE_TIMEOUT": 10.0,
    "WEBSOCKET_SHUTDOWN_TIMEOUT": 10.0,
    "WEBSOCKET_GC_THRESHOLD": 20_000,
    "WEBSOCKET_BLOCKED_LOOP_WARNING": 0.5,
    "WEBSOCKET_CLOSE_TIMEOUT": 5.0,
    "WEBSOCKET_RATE_LIMIT": None,
    "WEBSOCKET_TICKET_MAX_AGE": 60,
    "WEBSOCKET_TICKET_CACHE": "default",
    "WEBSOCKET_BROADCAST": {"BACKEND": "django_asgi_ws.broadcast.backends.memory.MemoryBackend"},
}


def _read(name: str) -> object:
    return getattr(settings, name, DEFAULTS[name])


class Settings:
    """The raw settings, one property each, read from ``django.conf.settings`` on access."""

    @property
    def WEBSOCKET_URLCONF(self) -> object:
        """Dotted path of the module whose ``urlpatterns`` are the websocket routes."""
        return _read("WEBSOCKET_URLCONF")

    @property
    def RUNASGI_SERVER(self) -> object:
        """The server ``runasgi`` uses unless --server says otherwise."""
        return _read("RUNASGI_SERVER")

    @property
    def RUNASGI_WARM_START(self) -> object:
        """Whether ``runasgi`` forks its server processes from a warm parent (Linux)."""
        return _read("RUNASGI_WARM_START")

    @property
    def ASGI_APPLICATION(self) -> object:
        """Dotted path of the application ``runasgi`` serves; None serves ours."""
        return _read("ASGI_APPLICATION")

    @property
    def WEBSOCKET_MAX_MESSAGE_SIZE(self) -> object:
        """Largest message in bytes; a larger one closes the connection with 1009."""
        return _read("WEBSOCKET_MAX_MESSAGE_SIZE")

    @property
    def WEBSOCKET_PING_INTERVAL(self) -> object:
        """Seconds between keepalive pings; None disables them."""
        return _read("WEBSOCKET_PING_INTERVAL")

    @property
    def WEBSOCKET_PING_TIMEOUT(self) -> object:
        """Seconds to wait for the pong before dropping the connection; None waits forever."""
        return _read("WEBSOCKET_PING_TIMEOUT")

    @property
    def WEBSOCKET_ALLOWED_ORIGINS(self) -> object:
        """Origins allowed to open a websocket; None derives them from ALLOWED_HOSTS
        and CSRF_TRUSTED_ORIGINS."""
        return _read("WEBSOCKET_ALLOWED_ORIGINS")

    @property
    def WEBSOCKET_ALLOW_MISSING_ORIGIN(self) -> object:
        """Whether a handshake without an Origin header (not from a browser) is allowed."""
        return _read("WEBSOCKET_ALLOW_MISSING_ORIGIN")

    @property
    def WEBSOCKET_HANDSHAKE_TIMEOUT(self) -> object:
        """Seconds a view has to accept or refuse a handshake; None waits forever."""
        return _read("WEBSOCKET_HANDSHAKE_TIMEOUT")

    @property
    def WEBSOCKET_SHUTDOWN_TIMEOUT(self) -> object:
        """Seconds views get to finish after a server's stop closed their websockets."""
        return _read("WEBSOCKET_SHUTDOWN_TIMEOUT")

    @property
    def WEBSOCKET_GC_THRESHOLD(self) -> object:
        """The garbage collector's first threshold in our servers; None leaves Python's."""
        return _read("WEBSOCKET_GC_THRESHOLD")

    @property
    def WEBSOCKET_BLOCKED_LOOP_WARNING(self) -> object:
        """Seconds after which an event loop that runs nothing else is reported, with
        what blocks it; None reports nothing."""
        return _read("WEBSOCKET_BLOCKED_LOOP_WARNING")

    @property
    def WEBSOCKET_CLOSE_TIMEOUT(self) -> object:
        """Seconds a connection the server closes has to end, else it is aborted."""
        return _read("WEBSOCKET_CLOSE_TIMEOUT")

    @property
    def WEBSOCKET_RATE_LIMIT(self) -> object:
        """Messages a client may send per connection, as "N/s", "N/m" or "N/h"; None
        sets no limit."""
        return _read("WEBSOCKET_RATE_LIMIT")

    @property
    def WEBSOCKET_TICKET_MAX_AGE(self) -> object:
        """Seconds a ticket from ``issue_ticket()`` stays valid."""
        return _read("WEBSOCKET_TICKET_MAX_AGE")

    @property
    def WEBSOCKET_TICKET_CACHE(self) -> object:
        """The alias in CACHES that remembers the single-use tickets already used."""
        return _read("WEBSOCKET_TICKET_CACHE")

    @property
    def WEBSOCKET_BROADCAST(self) -> object:
        """The broadcast backend and its options, as a dict in the style of CACHES."""
        return _read("WEBSOCKET_BROADCAST")


#: The raw settings, as ``conf.WEBSOCKET_URLCONF``; each access reads ``django.conf.settings``.
conf = Settings()


# eq=False: a snapshot hashes and compares by identity, so the caches derived
# from it are keyed by the snapshot itself at the cost of a pointer.
@dataclass(frozen=True, eq=False)
class WebSocketSettings:
    """The settings a running application reads, typed as the system checks ensure."""

    urlconf: str | None
    runasgi_server: str
    runasgi_warm_start: bool
    asgi_application: str | None
    max_message_size: int
    ping_interval: float | None
    ping_timeout: float | None
    allowed_origins: Sequence[str] | None
    allow_missing_origin: bool
    handshake_timeout: float | None
    shutdown_timeout: float
    gc_threshold: int | None
    blocked_loop_warning: float | None
    close_timeout: float
    rate_limit: str | None
    ticket_max_age: float
    ticket_cache: str
    broadcast: Mapping[str, Any]
    # Django's own settings that a handshake reads.
    force_script_name: str
    use_x_forwarded_host: bool
    allowed_hosts: tuple[str, ...]
    csrf_trusted_origins: tuple[str, ...]
    debug: bool


@functools.lru_cache(maxsize=1)
def get_settings() -> WebSocketSettings:
    """The current settings (cached until a setting changes).

    Values are taken as they are, typed as the system checks ensure: a value of
    the wrong type fails where it is used (and ``manage.py check`` reports it),
    never here, so that one bad setting cannot break what does not read it.
    """
    raw: Any = conf
    return WebSocketSettings(
        urlconf=raw.WEBSOCKET_URLCONF,
        runasgi_server=raw.RUNASGI_SERVER,
        runasgi_warm_start=raw.RUNASGI_WARM_START,
        asgi_application=raw.ASGI_APPLICATION,
        max_message_size=raw.WEBSOCKET_MAX_MESSAGE_SIZE,
        ping_interval=raw.WEBSOCKET_PING_INTERVAL,
        ping_timeout=raw.WEBSOCKET_PING_TIMEOUT,
        allowed_origins=raw.WEBSOCKET_ALLOWED_ORIGINS,
        allow_missing_origin=bool(raw.WEBSOCKET_ALLOW_MISSING_ORIGIN),
        handshake_timeout=raw.WEBSOCKET_HANDSHAKE_TIMEOUT,
        shutdown_timeout=raw.WEBSOCKET_SHUTDOWN_TIMEOUT,
        gc_threshold=raw.WEBSOCKET_GC_THRESHOLD,
        blocked_loop_warning=raw.WEBSOCKET_BLOCKED_LOOP_WARNING,
        close_timeout=raw.WEBSOCKET_CLOSE_TIMEOUT,
        rate_limit=raw.WEBSOCKET_RATE_LIMIT,
        ticket_max_age=raw.WEBSOCKET_TICKET_MAX_AGE,
        ticket_cache=raw.WEBSOCKET_TICKET_CACHE,
        broadcast=raw.WEBSOCKET_BROADCAST,
        force_script_name=str(settings.FORCE_SCRIPT_NAME or ""),
        use_x_forwarded_host=bool(settings.USE_X_FORWARDED_HOST),
        allowed_hosts=tuple(settings.ALLOWED_HOSTS),
        csrf_trusted_origins=tuple(settings.CSRF_TRUSTED_ORIGINS),
        debug=bool(settings.DEBUG),
    )


def _forget_settings(**kwargs: Any) -> None:
    get_settings.cache_clear()


setting_changed.connect(_forget_settings, dispatch_uid="django_asgi_ws.conf")
