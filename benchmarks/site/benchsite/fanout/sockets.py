"""django-socket's fan-out handlers: subscribers join the group on connect (the
``group`` of ``@ws``), the publisher broadcasts each message it receives to it."""

from __future__ import annotations

from django_socket import ws

GROUP = "room"


@ws("ws/fanout/", group=GROUP)
async def subscriber(sock):
    async for _message in sock:
        pass


@ws("ws/publish/")
async def publisher(sock):
    async for message in sock:
        await sock.broadcast(message.text, to=GROUP)
