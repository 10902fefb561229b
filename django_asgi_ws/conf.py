"""Every setting the package reads, with its default, read lazily.

Reading on each access (rather than once at import) keeps ``override_settings``
working in tests.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


class Settings:
    """The package's settings: one property per setting, each with its default."""

    @property
    def WEBSOCKET_URLCONF(self) -> Any:
        """Dotted path of the module whose ``urlpatterns`` are the websocket routes."""
        return getattr(settings, "WEBSOCKET_URLCONF", None)

    @property
    def RUNASGI_SERVER(self) -> Any:
        """The server ``runasgi`` uses unless --server says otherwise."""
        return getattr(settings, "RUNASGI_SERVER", "uvicorn")

    @property
    def ASGI_APPLICATION(self) -> Any:
        """Dotted path of the application ``runasgi`` serves; None serves ours."""
        return getattr(settings, "ASGI_APPLICATION", None)

    @property
    def WEBSOCKET_MAX_MESSAGE_SIZE(self) -> Any:
        """Largest message in bytes; a larger one closes the connection with 1009."""
        return getattr(settings, "WEBSOCKET_MAX_MESSAGE_SIZE", 1024 * 1024)

    @property
    def WEBSOCKET_PING_INTERVAL(self) -> Any:
        """Seconds between keepalive pings; None disables them."""
        return getattr(settings, "WEBSOCKET_PING_INTERVAL", 20.0)

    @property
    def WEBSOCKET_PING_TIMEOUT(self) -> Any:
        """Seconds to wait for the pong before dropping the connection; None waits forever."""
        return getattr(settings, "WEBSOCKET_PING_TIMEOUT", 20.0)

    @property
    def WEBSOCKET_ALLOWED_ORIGINS(self) -> Any:
        """Origins allowed to open a websocket; None derives them from ALLOWED_HOSTS
        and CSRF_TRUSTED_ORIGINS."""
        return getattr(settings, "WEBSOCKET_ALLOWED_ORIGINS", None)

    @property
    def WEBSOCKET_ALLOW_MISSING_ORIGIN(self) -> Any:
        """Whether a handshake without an Origin header (not from a browser) is allowed."""
        return getattr(settings, "WEBSOCKET_ALLOW_MISSING_ORIGIN", True)

    @property
    def WEBSOCKET_HANDSHAKE_TIMEOUT(self) -> Any:
        """Seconds a view has to accept or refuse a handshake; None waits forever."""
        return getattr(settings, "WEBSOCKET_HANDSHAKE_TIMEOUT", 10.0)

    @property
    def WEBSOCKET_RATE_LIMIT(self) -> Any:
        """Messages a client may send per connection, as "N/s", "N/m" or "N/h"; None
        sets no limit."""
        return getattr(settings, "WEBSOCKET_RATE_LIMIT", None)

    @property
    def WEBSOCKET_BROADCAST(self) -> Any:
        """The broadcast backend and its options, as a dict in the style of CACHES."""
        return getattr(
            settings,
            "WEBSOCKET_BROADCAST",
            {"BACKEND": "django_asgi_ws.broadcast.backends.memory.MemoryBackend"},
        )


#: The settings, as ``conf.WEBSOCKET_URLCONF``; each access reads ``django.conf.settings``.
conf = Settings()
