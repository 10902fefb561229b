"""What every server adapter offers, and how one is picked by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from django.core.exceptions import ImproperlyConfigured

from django_asgi_ws.asgi_types import ASGIApp

ServerName = Literal["uvicorn", "daphne"]
SERVER_NAMES: tuple[ServerName, ...] = get_args(ServerName)

# Called with the host and port actually bound (port 0 asks for a free one).
ReadyCallback = Callable[[str, int], None]


class MissingServerError(ImproperlyConfigured):
    """The chosen server, or a library it needs for websockets, is not installed."""


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    root_path: str = ""
    # Messages larger than this close the connection with 1009.
    max_message_size: int = 1024 * 1024
    # Seconds between keepalive pings, and to wait for the pong; None disables.
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    # Let the server handle SIGINT/SIGTERM itself (only in the main thread).
    install_signal_handlers: bool = True
    # Serve on this already-bound, listening socket instead of binding host:port.
    fd: int | None = None
    # On stop, how long open connections get to finish before they are cancelled.
    shutdown_timeout: float = 5.0
    # Seconds a new connection has to send its request's headers before it is
    # dropped (slow or idle clients otherwise hold it forever); None waits forever.
    request_timeout: float | None = None


class Server(Protocol):
    name: str

    def __init__(self, application: ASGIApp, options: ServerOptions) -> None: ...

    @property
    def version(self) -> str: ...

    def run(self, on_ready: ReadyCallback | None = None) -> None:
        """Serve until stopped; blocks."""

    def stop(self, close_code: int = 1001) -> None:
        """Close open websockets with *close_code* and stop; callable from any thread."""


def get_server_class(name: str) -> type[Server]:
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
    return server_class


def _requirement(name: str) -> str:
    return "django-asgi-ws[daphne]" if name == "daphne" else "uvicorn[standard]"
