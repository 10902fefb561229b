"""Websocket views for the security tests: identity, access control, limits, errors."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from django_asgi_ws import WebSocket
from django_asgi_ws.auth import alogin, alogout
from django_asgi_ws.decorators import login_required, permission_required, user_passes_test
from django_asgi_ws.views import WebSocketView


async def whoami(websocket: WebSocket) -> None:
    """Report the user and session the view sees, then echo session writes."""
    user = await websocket.auser()
    await websocket.accept()
    visits = await sync_to_async(websocket.session.get)("visits", 0)
    await websocket.send_json(
        {
            "username": user.get_username(),
            "authenticated": user.is_authenticated,
            "session_key": websocket.session.session_key,
            "visits": visits,
        }
    )
    async for key in websocket.iter_text():
        await sync_to_async(websocket.session.__setitem__)(key, "set over a websocket")
        await websocket.send_text("stored")


async def count_visit_before_accept(websocket: WebSocket) -> None:
    """Change the session before accept: the change is saved, the cookie sent with the accept."""
    session = websocket.session
    visits = await sync_to_async(session.get)("visits", 0)
    await sync_to_async(session.__setitem__)("visits", visits + 1)
    await websocket.accept()
    await websocket.send_json({"visits": visits + 1})
    await websocket.close()


async def login_as(websocket: WebSocket, username: str) -> None:
    """Log in before accepting, as a token-in-the-URL handshake would."""
    user = await get_user_model()._default_manager.aget(username=username)
    await alogin(websocket, user)
    await websocket.accept()
    await websocket.send_json({"username": (await websocket.auser()).get_username()})
    await websocket.close()


async def login_after_accept(websocket: WebSocket) -> None:
    await websocket.accept()
    user = await get_user_model()._default_manager.aget(username="alice")
    try:
        await alogin(websocket, user)
    except RuntimeError as exc:
        await websocket.send_text(str(exc))
    await websocket.close()


async def logout(websocket: WebSocket) -> None:
    """Log out after accept, on the client's request."""
    await websocket.accept()
    await websocket.receive_text()
    await alogout(websocket)
    await websocket.send_json({"authenticated": (await websocket.auser()).is_authenticated})
    await websocket.close()


@login_required
async def members_only(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(f"welcome {(await websocket.auser()).get_username()}")
    await websocket.close()


@permission_required("testapp.add_note")
async def note_writers_only(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("you may add notes")
    await websocket.close()


def _is_staff(user: object) -> bool:
    return bool(getattr(user, "is_staff", False))


@user_passes_test(_is_staff)
class StaffView(WebSocketView):
    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("staff only")
        await websocket.close()


class OpenView(WebSocketView):
    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("open")
        await websocket.close()


async def slow_handshake(websocket: WebSocket) -> None:
    """Never decides: the handshake timeout must refuse it and run the cleanup."""
    try:
        await asyncio.sleep(3600)
    finally:
        slow_handshake.cleaned_up = True  # type: ignore[attr-defined]


async def raise_after_accept(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    raise ValueError("secret detail that must not reach the client")


async def raise_before_accept(websocket: WebSocket) -> None:
    raise ValueError("secret detail that must not reach the client")


async def describe_request(websocket: WebSocket) -> None:
    """What ``websocket.request`` says about the handshake."""
    request = websocket.request
    await websocket.accept()
    await websocket.send_json(
        {
            "method": request.method,
            "path": request.path,
            "host": request.get_host(),
            "secure": request.is_secure(),
            "query": request.GET.get("q"),
            "cookie": request.COOKIES.get("theme"),
            "agent": request.headers.get("User-Agent"),
        }
    )
    await websocket.close()


async def handshake_left(websocket: WebSocket) -> None:
    """Who the connection is, and what of the handshake reaches the view (a ticket must not)."""
    user = await websocket.auser()
    offered = websocket.subprotocols
    await websocket.accept(subprotocol=offered[0] if offered else None)
    await websocket.send_json(
        {
            "username": user.get_username(),
            "subprotocols": offered,
            "protocol_header": websocket.headers.get("Sec-WebSocket-Protocol"),
            "query": websocket.GET.urlencode(),
            "request_query": websocket.request.META["QUERY_STRING"],
            # Only when the scope names the user: a session's would be a query here.
            "request_user": (
                websocket.request.user.get_username() if "user" in websocket.scope else None
            ),
        }
    )
    await websocket.close()
