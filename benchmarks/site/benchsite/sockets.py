"""django-socket's handlers (auto-discovered in installed apps, like admin.py)."""

from __future__ import annotations

from django_socket import ws


@ws("ws/echo/")
async def echo(sock):
    async for msg in sock:
        await sock.send(msg.text)
