"""One in-process websocket connection to an ASGI application, as a test drives it.

The application runs in a task of its own; the two queues stand for the
socket. Refusals, close codes and the closing handshake are what a real server
gives, so a test written against it holds against uvicorn and daphne too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Generator
from http.cookies import SimpleCookie
from types import TracebackType
from typing import Any

from django_asgi_ws.asgi_types import ASGIApp, ASGIMessage
from django_asgi_ws.exceptions import WebSocketDisconnect
from django_asgi_ws.status import CloseCode

__all__ = ["WebSocketConnection", "WebSocketRefused"]

_APP_FINISHED = {"type": "django_asgi_ws.test.app_finished"}


class WebSocketRefused(Exception):
    """The application refused the handshake."""

    def __init__(self, status_code: int, body: bytes = b"") -> None:
        super().__init__(f"websocket handshake refused with HTTP {status_code}")
        #: The HTTP status that a server with the websocket denial-response
        #: extension sends: 404 for a path with no route, 403 when the view, an
        #: access decorator or the origin check refused, 500 when the view raised
        #: before accepting (every case is in "Close codes and outcomes").
        self.status_code = status_code
        #: The body of that HTTP response.
        self.body = body


class PendingConnection:
    """``await client.connect(...)`` or ``async with client.connect(...)``."""

    def __init__(self, session: WebSocketConnection) -> None:
        self._session = session

    def __await__(self) -> Generator[Any, None, WebSocketConnection]:
        return self._open().__await__()

    async def _open(self) -> WebSocketConnection:
        await self._session._open()
        return self._session

    async def __aenter__(self) -> WebSocketConnection:
        return await self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._session.close()


class WebSocketConnection:
    """One open test connection, as the client sees it.

    What :meth:`WebSocketClient.connect` gives. ``async for message in
    session`` iterates over the messages the view sends until it closes.
    """

    def __init__(
        self,
        application: ASGIApp,
        scope: dict[str, Any],
        timeout: float,
        *,
        cookie_jar: SimpleCookie | None = None,
    ) -> None:
        #: The ASGI scope the application received.
        self.scope = scope
        self._cookie_jar = cookie_jar
        #: Seconds a receive waits before the test fails.
        self.timeout = timeout
        #: The subprotocol the view accepted, or ``None``.
        self.subprotocol: str | None = None
        #: The headers of the handshake response, as ``(name, value)`` bytes pairs.
        self.accept_headers: list[tuple[bytes, bytes]] = []
        #: The close code once the view closed the connection, else ``None``.
        self.close_code: int | None = None
        #: The close reason once the view closed the connection.
        self.close_reason: str = ""
        self._application = application
        self._to_app: asyncio.Queue[ASGIMessage] = asyncio.Queue()
        self._from_app: asyncio.Queue[ASGIMessage] = asyncio.Queue()
        self._early: deque[ASGIMessage] = deque()
        self._client_closed = False
        self._task: asyncio.Task[None] | None = None

    # Driving the application ---------------------------------------------------

    async def _open(self) -> None:
        self._task = asyncio.ensure_future(self._run())
        await self._to_app.put({"type": "websocket.connect"})
        try:
            message = await self._next(self.timeout)
        except TimeoutError:
            await self._cancel()  # leave no task behind the failed test
            raise
        if message["type"] == "websocket.accept":
            self.subprotocol = message.get("subprotocol")
            self.accept_headers = list(message.get("headers") or [])
            self._store_cookies()
            return
        if message["type"] == "websocket.close":
            await self._finish()
            raise WebSocketRefused(403)
        if message["type"] == "websocket.http.response.start":
            status, body = message["status"], b""
            while True:
                part = await self._next(self.timeout)
                if part["type"] != "websocket.http.response.body":
                    break
                body += part.get("body", b"")
                if not part.get("more_body"):
                    break
            await self._finish()
            raise WebSocketRefused(status, body)
        raise AssertionError(f"Unexpected message during the handshake: {message!r}")

    def _store_cookies(self) -> None:
        """Keep the cookies the handshake response sets, as a browser does."""
        if self._cookie_jar is None:
            return
        for name, value in self.accept_headers:
            if name.lower() == b"set-cookie":
                received: SimpleCookie = SimpleCookie()
                received.load(value.decode("latin-1"))
                for key, morsel in received.items():
                    if morsel["max-age"] == "0" or not morsel.value:
                        self._cookie_jar.pop(key, None)  # a deleted cookie
                    else:
                        self._cookie_jar[key] = morsel.value

    async def _run(self) -> None:
        try:
            await self._application(self.scope, self._receive_from_client, self._send_to_client)
        finally:
            await self._from_app.put(_APP_FINISHED)

    async def _receive_from_client(self) -> ASGIMessage:
        return await self._to_app.get()

    async def _send_to_client(self, message: ASGIMessage) -> None:
        code = message.get("code") if message["type"] == "websocket.close" else None
        if code is not None and type(code) is not int:
            # Some servers (daphne) reject int subclasses such as IntEnum members.
            raise TypeError(f"An ASGI close code must be a plain int, not {message['code']!r}.")
        if self._client_closed and message["type"] == "websocket.send":
            raise OSError("The client has disconnected.")  # what ASGI servers do
        await self._from_app.put(message)

    async def _next(self, timeout: float | None) -> ASGIMessage:
        if self._early:
            return self._early.popleft()
        wait = self.timeout if timeout is None else timeout
        try:
            message = await asyncio.wait_for(self._from_app.get(), wait)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"The application sent nothing within {wait} s on {self.scope['path']}."
            ) from None
        if message is _APP_FINISHED:
            self._from_app.put_nowait(_APP_FINISHED)  # every later wait ends here too
            self._raise_app_error()
            raise AssertionError(
                f"The application for {self.scope['path']} returned without closing."
            )
        return message

    def _raise_app_error(self) -> None:
        if self._task is not None and self._task.done() and not self._task.cancelled():
            error = self._task.exception()
            if error is not None:
                raise error

    async def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _finish(self) -> None:
        """Wait for the application to return, failing the test if it hangs."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.timeout)
        except asyncio.TimeoutError:
            self._task.cancel()
            raise TimeoutError(
                f"The application for {self.scope['path']} did not return within "
                f"{self.timeout} s after the connection ended."
            ) from None

    # The client's side -----------------------------------------------------------

    async def send_text(self, data: str) -> None:
        """Send a text message to the view."""
        await self._to_app.put({"type": "websocket.receive", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message to the view."""
        await self._to_app.put({"type": "websocket.receive", "bytes": data})

    async def send_json(self, data: Any) -> None:
        """Send *data* encoded as JSON, as a text message."""
        await self.send_text(json.dumps(data))

    async def receive(self, timeout: float | None = None) -> str | bytes:
        """The next message the view sent, ``str`` or ``bytes``.

        Raises :exc:`~django_asgi_ws.WebSocketDisconnect`, with the view's code
        and reason, if the view closed the connection instead, and
        TimeoutError after *timeout* seconds (default: the client's).
        """
        if self.close_code is not None:
            raise WebSocketDisconnect(self.close_code, self.close_reason)
        message = await self._next(timeout)
        if message["type"] == "websocket.send":
            text = message.get("text")
            return text if text is not None else message.get("bytes") or b""
        if message["type"] == "websocket.close":
            self.close_code = message.get("code", CloseCode.NORMAL_CLOSURE)
            self.close_reason = message.get("reason") or ""
            # A real server completes the closing handshake and then tells the app.
            await self._to_app.put({"type": "websocket.disconnect", "code": self.close_code})
            raise WebSocketDisconnect(self.close_code, self.close_reason)
        raise AssertionError(f"Unexpected message from the application: {message!r}")

    async def receive_text(self, timeout: float | None = None) -> str:
        """As :meth:`receive`; a binary message fails the test."""
        data = await self.receive(timeout)
        if not isinstance(data, str):
            raise AssertionError(f"Expected a text message, got binary {data!r}.")
        return data

    async def receive_bytes(self, timeout: float | None = None) -> bytes:
        """As :meth:`receive`; a text message fails the test."""
        data = await self.receive(timeout)
        if not isinstance(data, bytes):
            raise AssertionError(f"Expected a binary message, got text {data!r}.")
        return data

    async def receive_json(self, timeout: float | None = None) -> Any:
        """As :meth:`receive`, decoded from JSON."""
        return json.loads(await self.receive(timeout))

    async def receive_nothing(self, timeout: float = 0.1) -> bool:
        """True if the application sends nothing (message or close) within *timeout*.

        What it did send, if anything, is kept for the next receive.
        """
        if self._early:
            return False
        try:
            message = await asyncio.wait_for(self._from_app.get(), timeout)
        except asyncio.TimeoutError:
            return True
        self._early.append(message)  # the next receive gets it
        return False

    async def wait_closed(self, timeout: float | None = None) -> int:
        """Wait for the view to close the connection and return the close code.

        A message received instead fails the test.
        """
        try:
            data = await self.receive(timeout)
        except WebSocketDisconnect as exc:
            return exc.code
        raise AssertionError(f"Expected the server to close, but it sent {data!r}.")

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE) -> None:
        """Disconnect as a client would, then wait for the application to return."""
        if not self._client_closed:
            self._client_closed = True
            if self.close_code is None:
                await self._to_app.put({"type": "websocket.disconnect", "code": code})
        await self._finish()
        self._raise_app_error()

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        try:
            while True:
                yield await self.receive()
        except WebSocketDisconnect:
            return
