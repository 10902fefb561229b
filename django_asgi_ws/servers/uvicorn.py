"""Production entry points on uvicorn, with what ``runasgi`` gives on the wire.

uvicorn's command line::

    uvicorn mysite.asgi:application --ws django_asgi_ws.servers.uvicorn:WebSocketProtocol

(add ``--http django_asgi_ws.servers.uvicorn:HTTPProtocol`` to also drop
connections that do not send their request in time), or gunicorn::

    gunicorn mysite.asgi:application -k django_asgi_ws.servers.uvicorn.UvicornWorker

The protocols read the project's settings as each connection opens:
``WEBSOCKET_MAX_MESSAGE_SIZE``, ``WEBSOCKET_PING_INTERVAL`` and
``WEBSOCKET_PING_TIMEOUT`` take precedence over uvicorn's ``--ws-max-size``,
``--ws-ping-interval`` and ``--ws-ping-timeout``; ``WEBSOCKET_HANDSHAKE_TIMEOUT``
bounds the wait for a request, ``WEBSOCKET_CLOSE_TIMEOUT`` the time a closed
connection takes to go; and on SIGTERM open websockets are closed with
1001 (going away) and their views get ``WEBSOCKET_SHUTDOWN_TIMEOUT`` seconds to
finish, unless ``--timeout-graceful-shutdown`` says otherwise.
"""

from __future__ import annotations

import asyncio
import copy
import math
import weakref
from typing import TYPE_CHECKING, Any

import uvicorn

from django_asgi_ws.conf import WebSocketSettings, get_settings
from django_asgi_ws.servers.base import MissingServerError
from django_asgi_ws.servers.uvicorn_server import http_protocol_class
from django_asgi_ws.servers.uvicorn_websocket import websocket_protocol_class
from django_asgi_ws.status import CloseCode

__all__ = ["HTTPProtocol", "UvicornWorker", "WebSocketProtocol"]

_base = websocket_protocol_class()
if isinstance(_base, str):
    raise MissingServerError(
        "django_asgi_ws.servers.uvicorn needs the websockets library: "
        "pip install 'uvicorn[standard]'."
    )

# The server's Config -> (the settings it was derived for, the derived Config).
_configs: weakref.WeakKeyDictionary[uvicorn.Config, tuple[WebSocketSettings, uvicorn.Config]]
_configs = weakref.WeakKeyDictionary()


def configured(config: uvicorn.Config) -> uvicorn.Config:
    """*config* with the websocket settings of the project applied, one copy per snapshot."""
    settings = get_settings()
    cached = _configs.get(config)
    if cached is not None and cached[0] is settings:
        return cached[1]
    derived = copy.copy(config)
    derived.ws_max_size = settings.max_message_size
    derived.ws_ping_interval = settings.ping_interval
    derived.ws_ping_timeout = settings.ping_timeout
    _configs[config] = (settings, derived)
    return derived


class WebSocketProtocol(_base):  # type: ignore[misc,valid-type]
    """uvicorn's websocket protocol as ``runasgi`` serves it, reading the project's settings."""

    shutdown_close_code: int = CloseCode.GOING_AWAY

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(configured(config), server_state, app_state, _loop)
        self._server_config = config
        self.close_timeout = get_settings().close_timeout

    def shutdown(self) -> None:
        # uvicorn calls this on every connection, then waits for the tasks as
        # long as its Config says: give the views the setting's time, unless
        # --timeout-graceful-shutdown was given.
        if self._server_config.timeout_graceful_shutdown is None:
            self._server_config.timeout_graceful_shutdown = math.ceil(
                get_settings().shutdown_timeout
            )
        super().shutdown()


def _request_timeout() -> float | None:
    return get_settings().handshake_timeout


#: uvicorn's HTTP protocol, dropping a connection that has not sent its
#: request's headers within ``WEBSOCKET_HANDSHAKE_TIMEOUT``.
HTTPProtocol: type[asyncio.Protocol] = http_protocol_class(_request_timeout)

if TYPE_CHECKING:
    from django_asgi_ws.servers.gunicorn_worker import UvicornWorker


def __getattr__(name: str) -> Any:
    # The worker needs gunicorn, which the uvicorn command line does not.
    if name == "UvicornWorker":
        from django_asgi_ws.servers.gunicorn_worker import UvicornWorker

        return UvicornWorker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
