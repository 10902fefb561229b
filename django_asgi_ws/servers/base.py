"""What every server adapter offers, and how one is picked by name."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

from django.core.exceptions import ImproperlyConfigured

from django_asgi_ws.asgi_types import ASGIApp
from django_asgi_ws.conf import DEFAULTS, WebSocketSettings
from django_asgi_ws.status import CloseCode

ServerName = Literal["uvicorn", "daphne"]
SERVER_NAMES: tuple[ServerName, ...] = get_args(ServerName)

# Called with the host and port actually bound (port 0 asks for a free one).
ReadyCallback = Callable[[str, int], None]


class MissingServerError(ImproperlyConfigured):
    """The chosen server, or a library it needs for websockets, is not installed."""


def _default(name: str) -> Any:
    return DEFAULTS[name]


@dataclass(frozen=True)
class ServerOptions:
    """How to serve: the address, and the server side of the ``WEBSOCKET_*`` settings."""

    host: str = "127.0.0.1"
    port: int = 8000
    root_path: str = ""
    # Messages larger than this close the connection with 1009.
    max_message_size: int = _default("WEBSOCKET_MAX_MESSAGE_SIZE")
    # Seconds between keepalive pings, and to wait for the pong; None disables.
    ping_interval: float | None = _default("WEBSOCKET_PING_INTERVAL")
    ping_timeout: float | None = _default("WEBSOCKET_PING_TIMEOUT")
    # Let the server handle SIGINT/SIGTERM itself (only in the main thread).
    install_signal_handlers: bool = True
    # Serve on this already-bound, listening socket instead of binding host:port.
    fd: int | None = None
    # On stop, how long open connections get to finish before they are cancelled.
    shutdown_timeout: float = _default("WEBSOCKET_SHUTDOWN_TIMEOUT")
    # Seconds a new connection has to send its request's headers before it is
    # dropped (slow or idle clients otherwise hold it forever); None waits forever.
    request_timeout: float | None = None
    # Seconds a connection the server closes (a view's close, a shutdown, a
    # protocol error, a keepalive timeout) has to end before it is aborted:
    # a client that stops reading would otherwise hold it forever.
    close_timeout: float = _default("WEBSOCKET_CLOSE_TIMEOUT")

    @classmethod
    def from_settings(cls, settings: WebSocketSettings, **options: Any) -> ServerOptions:
        """The server side of *settings*, with *options* (the address, say) on top."""
        return cls(
            max_message_size=settings.max_message_size,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            shutdown_timeout=settings.shutdown_timeout,
            request_timeout=settings.handshake_timeout,
            close_timeout=settings.close_timeout,
            **options,
        )


class Server(Protocol):
    name: str

    def __init__(self, application: ASGIApp, options: ServerOptions) -> None: ...

    @classmethod
    def check_installed(cls) -> None:
        """MissingServerError if a library the server needs for websockets is missing."""

    @property
    def version(self) -> str: ...

    def run(self, on_ready: ReadyCallback | None = None) -> None:
        """Serve until stopped; blocks."""

    def stop_accepting(self) -> None:
        """Accept no new connection from now on; callable from any thread, returns once done.

        Before a reload: the next server process accepts on the same socket.
        """

    def stop(self, close_code: int = CloseCode.GOING_AWAY) -> None:
        """Close open websockets with *close_code* and stop; callable from any thread."""


def get_server_class(name: str) -> type[Server]:
    """The adapter of the server *name*, checked to be installed with what it needs."""
    if name not in SERVER_NAMES:
        raise ImproperlyConfigured(
            f"Unknown ASGI server {name!r}; choose one of {', '.join(SERVER_NAMES)}."
        )
    try:
        module = importlib.import_module(f"django_asgi_ws.servers.{name}_server")
    except ImportError as exc:
        raise MissingServerError(
            f"The {name} server cannot be imported ({exc}); "
            f"install it with: pip install '{_requirement(name)}'."
        ) from exc
    server_class: type[Server] = module.SERVER_CLASS
    server_class.check_installed()
    return server_class


def check_server_installed(name: str) -> None:
    """What :func:`get_server_class` checks, without importing the server.

    For the process that only supervises: importing daphne (Twisted) takes a
    third of a second, and the server process imports it anyway.
    """
    from django_asgi_ws.servers.versions import check_server_versions, check_websocket_library

    if name not in SERVER_NAMES:
        raise ImproperlyConfigured(
            f"Unknown ASGI server {name!r}; choose one of {', '.join(SERVER_NAMES)}."
        )
    if importlib.util.find_spec(name) is None:
        raise MissingServerError(
            f"The {name} server cannot be imported (No module named {name!r}); "
            f"install it with: pip install '{_requirement(name)}'."
        )
    check_server_versions(name)
    if name == "uvicorn":
        check_websocket_library()


def _requirement(name: str) -> str:
    return "django-asgi-ws[daphne]" if name == "daphne" else "uvicorn[standard]"
