"""Views that block the event loop, or only seem to, for the loop watchdog's tests.

Each message is a number of seconds.
"""

from __future__ import annotations

import asyncio
import time

from django.http import HttpRequest, HttpResponse

from django_asgi_ws import WebSocket


async def block_the_loop(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        time.sleep(float(text))  # the line the report shows
        await websocket.send_text("slept")


async def await_only(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await asyncio.sleep(float(text))
        await websocket.send_text("slept")


async def block_in_a_child_task(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await asyncio.ensure_future(sleep_in_a_task(float(text)))
        await websocket.send_text("slept")


async def sleep_in_a_task(seconds: float) -> None:
    time.sleep(seconds)


async def block_http(request: HttpRequest) -> HttpResponse:
    time.sleep(float(request.GET["seconds"]))
    return HttpResponse("slept")
