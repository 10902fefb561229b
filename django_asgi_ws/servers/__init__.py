"""Running the application under uvicorn or daphne with the same behaviour on the wire.

``runasgi`` and the test suite both start servers through here, so whatever
adaptation a server needs lives in one place.
"""

from __future__ import annotations

from django_asgi_ws.servers.base import (
    SERVER_NAMES,
    MissingServerError,
    Server,
    ServerName,
    ServerOptions,
    get_server_class,
)

__all__ = [
    "SERVER_NAMES",
    "MissingServerError",
    "Server",
    "ServerName",
    "ServerOptions",
    "get_server_class",
]
