"""The gunicorn worker, named as ``django_asgi_ws.servers.uvicorn.UvicornWorker``::

    gunicorn mysite.asgi:application -k django_asgi_ws.servers.uvicorn.UvicornWorker

uvicorn-worker's worker with this package's HTTP and websocket protocols, and
gunicorn's graceful stop (SIGTERM) closing open websockets with 1001 and
giving their views ``WEBSOCKET_SHUTDOWN_TIMEOUT`` seconds.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from django_asgi_ws.servers.base import MissingServerError

try:
    import uvicorn_worker  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise MissingServerError(
        f"The gunicorn worker needs gunicorn and uvicorn-worker ({exc}): "
        "pip install 'django-asgi-ws[gunicorn]'."
    ) from exc

from django_asgi_ws.conf import get_settings
from django_asgi_ws.servers.uvicorn import HTTPProtocol, WebSocketProtocol

__all__ = ["UvicornWorker"]


class UvicornWorker(uvicorn_worker.UvicornWorker):  # type: ignore[misc]
    """A gunicorn worker serving the ASGI application on uvicorn, as ``runasgi`` does."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": HTTPProtocol,
        "ws": WebSocketProtocol,
    }

    def run(self) -> None:
        # The application, and with it Django's settings, is loaded by now.
        self.config.timeout_graceful_shutdown = math.ceil(get_settings().shutdown_timeout)
        super().run()
