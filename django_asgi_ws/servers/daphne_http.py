"""daphne's HTTP side, with a deadline on the head of a connection's first request.

Twisted's ``timeOut`` drops a connection that has sent nothing for that long,
and every byte restarts it: a client sending its request one byte at a time
would hold the connection for as long as it liked. Here the request line and
headers of the first request must have arrived within ``request_timeout``
seconds of the connection's start, or the connection is dropped, as with the
uvicorn HTTP protocol of :mod:`~django_asgi_ws.servers.uvicorn_server`. What
follows the head (a body, the next requests of a kept-alive connection) is
left to Twisted's idle timeout.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from daphne.http_protocol import HTTPFactory, WebRequest
from twisted.internet.interfaces import IProtocol
from twisted.internet.protocol import connectionDone
from twisted.python.components import proxyForInterface

from django_asgi_ws.servers.daphne_protocol import reactor


class RequestHeadDeadline(proxyForInterface(IProtocol, "_protocol")):  # type: ignore[misc]
    """daphne's HTTP protocol for one connection, dropped unless the head of its first
    request arrives within *timeout* seconds.

    Only between Twisted's transport and the protocol it built: once a
    websocket handshake has arrived, daphne hands the transport to the
    websocket protocol, and this is out of the way.
    """

    transport: Any = None

    def __init__(self, protocol: Any, timeout: float) -> None:
        super().__init__(protocol)
        self._timeout = timeout
        self._expiry: Any = None
        protocol.requestFactory = functools.partial(
            HeadReportingRequest, on_head=self.head_received
        )

    def makeConnection(self, transport: Any) -> None:
        self.transport = transport
        self._expiry = reactor.callLater(self._timeout, self._expired)
        self._protocol.makeConnection(transport)

    def connectionLost(self, reason: Any = connectionDone) -> None:
        self.head_received()  # nothing left to time
        self._protocol.connectionLost(reason)

    def head_received(self) -> None:
        if self._expiry is not None and self._expiry.active():
            self._expiry.cancel()

    def _expired(self) -> None:
        self.transport.loseConnection()


class HeadReportingRequest(WebRequest):  # type: ignore[misc]
    """daphne's request, calling *on_head* once its request line and headers are in."""

    def __init__(self, *args: Any, on_head: Callable[[], None], **kwargs: Any) -> None:
        self._on_head = on_head
        super().__init__(*args, **kwargs)

    def gotLength(self, length: int | None) -> None:
        # Twisted's channel calls it once all the headers have arrived (IRequest).
        super().gotLength(length)
        self._on_head()


class RequestHeadDeadlineFactory(HTTPFactory):  # type: ignore[misc]
    """daphne's HTTP factory, each connection's first request head due within *timeout* s."""

    def __init__(self, server: Any, timeout: float) -> None:
        super().__init__(server)
        self.request_head_timeout = timeout

    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        if protocol is None:
            return None
        return RequestHeadDeadline(protocol, self.request_head_timeout)
