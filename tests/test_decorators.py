"""login_required, permission_required and user_passes_test: refusal before accept."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission
from django.urls import path

from django_asgi_ws import WebSocket
from django_asgi_ws.decorators import login_required, permission_required, user_passes_test
from django_asgi_ws.test import WebSocketClient, WebSocketRefused
from django_asgi_ws.views import WebSocketView
from tests import security_views
from tests.accounts import make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def refusal_status(client: WebSocketClient, path: str) -> int:
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect(path)
    return refused.value.status_code


async def test_login_required_refuses_anonymous_visitors_with_403(
    client: WebSocketClient,
) -> None:
    assert await refusal_status(client, "/ws/members/") == 403


async def test_login_required_lets_a_logged_in_user_in(client: WebSocketClient) -> None:
    await client.aforce_login(await make_user())
    async with client.connect("/ws/members/") as ws:
        assert await ws.receive_text() == "welcome alice"


async def test_login_required_refuses_an_inactive_user(client: WebSocketClient) -> None:
    """ModelBackend does not authenticate inactive users, so their session is anonymous."""
    user = await make_user()
    await client.aforce_login(user)
    user.is_active = False
    await user.asave()
    assert await refusal_status(client, "/ws/members/") == 403


async def test_permission_required_checks_the_permission(client: WebSocketClient) -> None:
    user = await make_user()
    await client.aforce_login(user)
    assert await refusal_status(client, "/ws/note-writers/") == 403

    permission = await Permission.objects.aget(codename="add_note")
    await sync_to_async(user.user_permissions.add)(permission)
    async with client.connect("/ws/note-writers/") as ws:
        assert await ws.receive_text() == "you may add notes"


async def test_permission_required_refuses_anonymous_visitors(client: WebSocketClient) -> None:
    assert await refusal_status(client, "/ws/note-writers/") == 403


async def test_user_passes_test_decorates_a_websocket_view_class(
    client: WebSocketClient,
) -> None:
    await client.aforce_login(await make_user())
    assert await refusal_status(client, "/ws/staff/") == 403

    staff = await make_user("bob", is_staff=True)
    await client.aforce_login(staff)
    async with client.connect("/ws/staff/") as ws:
        assert await ws.receive_text() == "staff only"


async def test_a_decorated_as_view_function_is_checked_too(client: WebSocketClient) -> None:
    assert await refusal_status(client, "/ws/members-view/") == 403
    await client.aforce_login(await make_user())
    async with client.connect("/ws/members-view/") as ws:
        assert await ws.receive_text() == "open"


async def test_a_refused_view_never_runs(client: WebSocketClient, ws_routes: Any) -> None:
    ran: list[str] = []

    class Tracking(WebSocketView):
        async def on_connect(self, websocket: WebSocket) -> None:
            ran.append("on_connect")

        async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
            ran.append("on_disconnect")

    ws_routes([path("ws/tracking/", user_passes_test(lambda user: False)(Tracking).as_view())])
    assert await refusal_status(client, "/ws/tracking/") == 403
    assert ran == []


async def test_an_async_test_function_is_awaited(client: WebSocketClient, ws_routes: Any) -> None:
    seen: list[Any] = []

    async def check(user: Any) -> bool:
        seen.append(user)
        return True

    @user_passes_test(check)
    async def view(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    ws_routes([path("ws/checked/", view)])
    async with client.connect("/ws/checked/") as ws:
        await ws.wait_closed()
    assert len(seen) == 1
    assert not seen[0].is_authenticated


def test_decorating_a_sync_function_is_a_type_error() -> None:
    def sync_view(websocket: WebSocket) -> None: ...

    with pytest.raises(TypeError, match="is not an async function"):
        login_required(sync_view)


def test_decorating_another_class_is_a_type_error() -> None:
    class NotAView:
        pass

    with pytest.raises(TypeError, match="not a WebSocketView subclass"):
        login_required(NotAView)


def test_decorators_keep_the_view_name() -> None:
    assert security_views.members_only.__name__ == "members_only"
    assert security_views.StaffView.__name__ == "StaffView"


# Closing with a code of the application's own instead of refusing -----------------


async def test_with_a_close_code_a_visitor_is_accepted_and_closed_with_it(
    client: WebSocketClient, ws_routes: Any
) -> None:
    """What a browser can see: a refused handshake shows as 1006, this as 4401."""

    @login_required(close_code=4401, reason="Log in to chat.")
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")

    ws_routes([path("ws/chat/", chat)])
    async with client.connect("/ws/chat/") as ws:
        assert await ws.wait_closed() == 4401
        assert ws.close_reason == "Log in to chat."

    await client.aforce_login(await make_user())
    async with client.connect("/ws/chat/") as ws:
        assert await ws.receive_text() == "hello"


async def test_with_a_close_code_a_view_class_never_connects(
    client: WebSocketClient, ws_routes: Any
) -> None:
    ran: list[str] = []

    @permission_required("testapp.add_note", close_code=4403)
    class Notes(WebSocketView):
        async def on_connect(self, websocket: WebSocket) -> None:
            ran.append("on_connect")
            await websocket.accept()

        async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
            ran.append("on_disconnect")

    ws_routes([path("ws/notes/", Notes.as_view())])
    await client.aforce_login(await make_user())
    async with client.connect("/ws/notes/") as ws:
        assert await ws.wait_closed() == 4403
        assert ws.close_reason == ""
    assert ran == []


@pytest.mark.parametrize(
    ("close_code", "reason"),
    [(1006, ""), (999, ""), (5000, ""), (4401, "é" * 62)],
    ids=["reserved", "below-range", "above-range", "reason-too-long"],
)
def test_a_close_code_a_view_may_not_send_fails_at_decoration(close_code: int, reason: str) -> None:
    with pytest.raises(ValueError, match=r"close code an application may send|at most 123 bytes"):
        login_required(close_code=close_code, reason=reason)
