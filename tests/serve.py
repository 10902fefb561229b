"""Serve the test project on a real server: ``python -m tests.serve uvicorn|daphne``.

Prints ``LISTENING <host> <port>`` once the socket is bound (port 0 picks a
free one), then serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    server_name = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if server_name == "daphne":
        # daphne's reactor must be installed before anything imports Twisted.
        import daphne.server  # noqa: F401

    from django_asgi_ws.asgi import get_asgi_application
    from django_asgi_ws.conf import conf
    from django_asgi_ws.servers import ServerOptions, get_server_class

    application = get_asgi_application()
    options = ServerOptions(
        port=port,
        max_message_size=conf.WEBSOCKET_MAX_MESSAGE_SIZE,
        ping_interval=conf.WEBSOCKET_PING_INTERVAL,
        ping_timeout=conf.WEBSOCKET_PING_TIMEOUT,
        request_timeout=conf.WEBSOCKET_HANDSHAKE_TIMEOUT,
        close_timeout=conf.WEBSOCKET_CLOSE_TIMEOUT,
    )
    server = get_server_class(server_name)(application, options)

    def on_ready(host: str, bound_port: int) -> None:
        print(f"LISTENING {host} {bound_port}", flush=True)

    server.run(on_ready)


if __name__ == "__main__":
    main()
