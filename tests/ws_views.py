"""Websocket views the tests connect to, one behaviour each."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from asgiref.sync import sync_to_async
from django.urls import reverse as reverse_http

from django_asgi_ws import WebSocket, WebSocketException
from django_asgi_ws.routing import reverse
from django_asgi_ws.views import WebSocketView
from tests.testapp.models import Note


async def ping(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text("pong!" if text == "ping" else f"unknown: {text}")


async def collector(websocket: WebSocket) -> None:
    """How the serving process's garbage collector is set: first threshold, frozen objects."""
    await websocket.accept()
    await websocket.send_json({"threshold": gc.get_threshold()[0], "frozen": gc.get_freeze_count()})


async def http_protocols(websocket: WebSocket) -> None:
    """How many of our uvicorn HTTP protocol objects are alive in the serving process."""
    await websocket.accept()
    gc.collect()
    alive = [
        found
        for found in gc.get_objects()
        if type(found).__name__ == "HTTPProtocol"
        and type(found).__module__.startswith("django_asgi_ws.servers")
    ]
    await websocket.send_json(len(alive))


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        data = await websocket.receive()
        if isinstance(data, str):
            await websocket.send_text(data)
        else:
            await websocket.send_bytes(data)


async def describe(websocket: WebSocket, **kwargs: Any) -> None:
    """Send back what the view saw of the request."""
    await websocket.accept(
        subprotocol=websocket.subprotocols[0] if websocket.subprotocols else None,
        headers={"x-seen": "yes"},
    )
    await websocket.send_json(
        {
            "path": websocket.path,
            "path_info": websocket.path_info,
            "kwargs": kwargs,
            "url_kwargs": websocket.url_kwargs,
            "url_args": list(websocket.url_args),
            "url_name": websocket.resolver_match.url_name if websocket.resolver_match else None,
            "namespace": websocket.resolver_match.namespace if websocket.resolver_match else None,
            "query": websocket.GET.getlist("q"),
            "user_agent": websocket.headers.get("User-Agent"),
            "cookies": websocket.COOKIES,
            "subprotocols": websocket.subprotocols,
            "client_is_set": websocket.client is not None,
            "reversed": reverse("room", kwargs={"room": "lobby"}),
            "http_url": reverse_http("hello"),
        }
    )
    await websocket.close()


async def positional(websocket: WebSocket, year: str) -> None:
    await websocket.accept()
    await websocket.send_json({"year": year, "args": list(websocket.url_args)})


async def fail_before_accept(websocket: WebSocket) -> None:
    raise ValueError("broken before accept")


async def fail_after_accept(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    raise ValueError("broken after accept")


async def return_without_closing(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("bye")


async def return_without_accepting(websocket: WebSocket) -> None:
    return None


async def refuse(websocket: WebSocket) -> None:
    await websocket.close()


async def close_with_code(websocket: WebSocket, code: int) -> None:
    await websocket.accept()
    await websocket.receive_text()
    raise WebSocketException(code, "custom reason")


async def empty_messages(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("")
    await websocket.send_bytes(b"")
    await websocket.send_text("done")


async def notes(websocket: WebSocket) -> None:
    """Reads and writes the database for each message."""
    await websocket.accept()
    async for text in websocket.iter_text():
        await sync_to_async(Note.objects.create)(text=text)
        count = await sync_to_async(Note.objects.count)()
        await websocket.send_json({"count": count})


async def push(websocket: WebSocket) -> None:
    """Sends on its own while also receiving, the thing a blocking loop cannot do."""
    await websocket.accept()

    async def ticker() -> None:
        for number in range(3):
            await websocket.send_text(f"tick {number}")
            await asyncio.sleep(0.01)

    task = asyncio.ensure_future(ticker())
    try:
        async for text in websocket.iter_text():
            await websocket.send_text(f"echo {text}")
    finally:
        task.cancel()


def sync_view(websocket: WebSocket) -> None:  # only reachable from tests.bad_ws_urls
    pass


class JSONCounter(WebSocketView):
    encoding = "json"
    start = 0

    async def on_connect(self, websocket: WebSocket) -> None:
        self.count = self.start
        await websocket.accept()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        add = data.get("add") if isinstance(data, dict) else None
        if type(add) is not int:
            raise WebSocketException(1008, 'Send {"add": <integer>}.')
        self.count += add
        await websocket.send_json({"count": self.count})


class TextOnly(WebSocketView):
    encoding = "text"
    disconnects: list[int] = []  # noqa: RUF012 - shared on purpose, inspected by tests

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_text(data.upper())

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        type(self).disconnects.append(close_code)


class BytesOnly(WebSocketView):
    encoding = "bytes"

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_bytes(data[::-1])


class RefuseOnConnect(WebSocketView):
    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.close()
