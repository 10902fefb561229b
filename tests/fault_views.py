"""Views for the fault tests: clients that stop reading, and the server closing on them.

Each logs how it ended on the ``django_asgi_ws`` logger, which the test reads
in the server's output: a view that never ends would never log.
"""

from __future__ import annotations

import asyncio
import logging
import time

from django_asgi_ws import WebSocket
from django_asgi_ws.exceptions import WebSocketDisconnect

logger = logging.getLogger("django_asgi_ws")


async def close_a_stalled_client(websocket: WebSocket) -> None:
    """Send until a send waits for half a second (the client's buffers are full), then
    close with 4000, as a view giving up on a slow client would."""
    await websocket.accept()
    chunk = bytes(512 * 1024)  # daphne sends no message over WEBSOCKET_MAX_MESSAGE_SIZE
    while True:
        try:
            await asyncio.wait_for(websocket.send_bytes(chunk), 0.5)
        except TimeoutError:
            break
    started = time.monotonic()
    await websocket.close(4000, "Too slow.")
    logger.info("close returned after %.1f s", time.monotonic() - started)


async def send_until_disconnected(websocket: WebSocket) -> None:
    """Send 1 MiB messages until a send fails: blocked in a send once the client stops reading."""
    await websocket.accept()
    started = time.monotonic()
    try:
        while True:
            await websocket.send_bytes(bytes(1024 * 1024))
    except WebSocketDisconnect:
        logger.info("send raised the disconnect after %.1f s", time.monotonic() - started)
        raise
