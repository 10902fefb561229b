"""The fan-out limit: a raw ASGI application, no framework at all.

Every websocket but the publishers' keeps its ``send`` callable in a set. A text
message received on a publisher socket (a path ending in ``/publish/``) is sent
to each subscriber in turn, one ``await send(...)`` after another. It answers
lifespan as well, so that every server runs it with the same settings as the
Django targets.
"""

from __future__ import annotations

import gc_pauses  # noqa: F401  (times the collector when asked)

subscribers: set = set()


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        return
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    publisher = scope["path"].endswith("/publish/")
    if not publisher:
        subscribers.add(send)
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if publisher and message.get("text") is not None:
                event = {"type": "websocket.send", "text": message["text"]}
                for subscriber in list(subscribers):
                    await subscriber(event)
    finally:
        subscribers.discard(send)
