"""The production entry point on daphne, with what ``runasgi`` gives on the wire::

    python -m django_asgi_ws.servers.daphne mysite.asgi:application -b 0.0.0.0 -p 8000

It takes daphne's own options (``--help`` lists them) and serves with this
package's daphne adaptation (close codes and frames, empty messages,
backpressure both ways, lifespan). The project's settings take precedence
over the options of the same meaning: ``WEBSOCKET_MAX_MESSAGE_SIZE`` over
``--websocket-max-message-size``, ``WEBSOCKET_PING_INTERVAL`` and
``WEBSOCKET_PING_TIMEOUT`` over ``--ping-interval`` and ``--ping-timeout``;
``WEBSOCKET_HANDSHAKE_TIMEOUT`` bounds the wait for a request,
``WEBSOCKET_CLOSE_TIMEOUT`` the time a closed connection takes to go. On SIGTERM or
SIGINT it stops accepting, closes every open websocket with 1001 (going away),
gives the views ``WEBSOCKET_SHUTDOWN_TIMEOUT`` seconds to finish, runs the
shutdown hooks and exits; a second signal stops at once.
"""

from __future__ import annotations

# daphne.server installs Twisted's asyncio reactor on import; it must come first.
import signal
import sys
from types import FrameType
from typing import Any

from daphne.cli import CommandLineInterface as DaphneCommandLineInterface

from django_asgi_ws.conf import get_settings
from django_asgi_ws.servers.base import ServerOptions
from django_asgi_ws.servers.daphne_protocol import reactor
from django_asgi_ws.servers.daphne_server import Server, server_arguments
from django_asgi_ws.servers.lifespan_driver import LifespanManager
from django_asgi_ws.status import CloseCode

__all__ = ["CommandLineInterface", "EntryPointServer", "main"]


class EntryPointServer(Server):
    """The daphne Server of the entry point: the project's settings, signals that drain."""

    def __init__(self, application: Any, **arguments: Any) -> None:
        # The application is imported by now, so Django's settings are loaded.
        options = ServerOptions.from_settings(get_settings())
        arguments.update(server_arguments(options))
        arguments["signal_handlers"] = False  # ours drain; Twisted's would drop the sockets
        super().__init__(application, **arguments)
        self.lifespan = LifespanManager(application)
        self.request_timeout = options.request_timeout
        self.close_timeout = options.close_timeout
        self.shutdown_timeout = options.shutdown_timeout
        self._stopping = False

    def run(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        super().run()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            reactor.callFromThread(self.stop)  # a second signal: stop now
            return
        self._stopping = True
        reactor.callFromThread(self.close_gracefully, CloseCode.GOING_AWAY, self.shutdown_timeout)


class CommandLineInterface(DaphneCommandLineInterface):  # type: ignore[misc]
    """daphne's command line, serving with :class:`EntryPointServer`."""

    server_class = EntryPointServer


def main(argv: list[str] | None = None) -> None:
    """Run the entry point with *argv* (default: the command line's arguments)."""
    CommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
