"""websocket.session, websocket.user and login/logout: what a Django view would see, or
the user an ASGI middleware put in the scope."""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from django.test import AsyncClient, override_settings
from django.urls import path

from django_asgi_ws import WebSocket
from django_asgi_ws.asgi_types import Receive, Scope, Send
from django_asgi_ws.handler import WebSocketApplication
from django_asgi_ws.test import WebSocketClient, WebSocketRefused
from tests.accounts import make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def http_whoami(cookies: SimpleCookie) -> str:
    """Ask an ordinary Django view, with the browser's cookies, who is logged in."""
    http = AsyncClient()
    http.cookies = cookies
    response = await http.get("/whoami/")
    return response.content.decode()


async def test_an_anonymous_visitor_is_an_anonymous_user(client: WebSocketClient) -> None:
    async with client.connect("/ws/whoami/") as ws:
        seen = await ws.receive_json()
    assert seen == {"username": "", "authenticated": False, "session_key": None, "visits": 0}


async def test_the_session_cookie_gives_the_logged_in_user(client: WebSocketClient) -> None:
    user = await make_user()
    await client.aforce_login(user)
    async with client.connect("/ws/whoami/") as ws:
        seen = await ws.receive_json()
    assert seen["username"] == "alice"
    assert seen["authenticated"] is True
    assert seen["session_key"] == client.cookies[settings.SESSION_COOKIE_NAME].value


async def test_a_forged_session_cookie_is_an_anonymous_user(client: WebSocketClient) -> None:
    client.cookies[settings.SESSION_COOKIE_NAME] = "x" * 32
    async with client.connect("/ws/whoami/") as ws:
        assert (await ws.receive_json())["authenticated"] is False


async def test_a_session_for_a_changed_password_is_no_longer_logged_in(
    client: WebSocketClient,
) -> None:
    """The session auth hash is verified, as for a Django view."""
    user = await make_user()
    await client.aforce_login(user)
    user.set_password("changed")
    await user.asave()
    async with client.connect("/ws/whoami/") as ws:
        assert (await ws.receive_json())["authenticated"] is False


@pytest.mark.parametrize(
    "engine",
    [
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cache",
        "django.contrib.sessions.backends.cached_db",
        "django.contrib.sessions.backends.signed_cookies",
    ],
)
async def test_every_session_engine_works(client: WebSocketClient, engine: str) -> None:
    user = await make_user()
    with override_settings(SESSION_ENGINE=engine):
        await client.aforce_login(user)
        async with client.connect("/ws/whoami/") as ws:
            assert (await ws.receive_json())["username"] == "alice"


async def test_changes_before_accept_are_saved_and_the_cookie_sent_with_the_accept(
    client: WebSocketClient,
) -> None:
    async with client.connect("/ws/visit/") as ws:
        assert await ws.receive_json() == {"visits": 1}
        set_cookie = [value for name, value in ws.accept_headers if name == b"set-cookie"]
    assert len(set_cookie) == 1
    assert set_cookie[0].startswith(f"{settings.SESSION_COOKIE_NAME}=".encode())
    assert b"HttpOnly" in set_cookie[0]
    assert b"SameSite=Lax" in set_cookie[0]

    # The browser kept the cookie: the next visit continues the same session.
    async with client.connect("/ws/visit/") as ws:
        assert await ws.receive_json() == {"visits": 2}
    assert "'visits', 2" in await http_whoami(client.cookies)


async def test_a_session_only_read_sends_no_cookie(client: WebSocketClient) -> None:
    async with client.connect("/ws/whoami/") as ws:
        await ws.receive_json()
        assert not [name for name, _ in ws.accept_headers if name == b"set-cookie"]


async def test_changes_after_accept_are_saved_when_the_socket_closes(
    client: WebSocketClient,
) -> None:
    await client.aforce_login(await make_user())
    async with client.connect("/ws/whoami/") as ws:
        await ws.receive_json()
        await ws.send_text("theme")
        assert await ws.receive_text() == "stored"
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    stored = await sync_to_async(SessionStore(session_key=key).load)()
    assert stored["theme"] == "set over a websocket"


async def test_login_before_accept_persists_for_later_http_requests(
    client: WebSocketClient,
) -> None:
    await make_user()
    assert (await http_whoami(client.cookies)).startswith("anonymous")
    async with client.connect("/ws/login/alice/") as ws:
        assert await ws.receive_json() == {"username": "alice"}
    assert (await http_whoami(client.cookies)).startswith("alice ")
    async with client.connect("/ws/whoami/") as ws:
        assert (await ws.receive_json())["username"] == "alice"


async def test_login_gives_a_new_session_key(client: WebSocketClient) -> None:
    """Against session fixation: a key planted before login is not the key after it."""
    async with client.connect("/ws/visit/") as ws:
        await ws.receive_json()
    planted = client.cookies[settings.SESSION_COOKIE_NAME].value
    await make_user()
    async with client.connect("/ws/login/alice/") as ws:
        await ws.receive_json()
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != planted


async def test_login_after_accept_is_refused_with_an_explanation(
    client: WebSocketClient,
) -> None:
    await make_user()
    async with client.connect("/ws/login-after-accept/") as ws:
        message = await ws.receive_text()
    assert "alogin() must run before accept()" in message
    assert (await http_whoami(client.cookies)).startswith("anonymous")


async def test_logout_after_accept_persists_for_later_http_requests(
    client: WebSocketClient,
) -> None:
    await client.aforce_login(await make_user())
    assert (await http_whoami(client.cookies)).startswith("alice ")
    async with client.connect("/ws/logout/") as ws:
        await ws.send_text("log me out")
        assert await ws.receive_json() == {"authenticated": False}
    assert (await http_whoami(client.cookies)).startswith("anonymous")


async def test_the_request_is_a_django_request_for_the_handshake(
    client: WebSocketClient,
) -> None:
    client.cookies["theme"] = "dark"
    async with client.connect("/ws/request/?q=1", headers={"user-agent": "pytest"}) as ws:
        seen = await ws.receive_json()
    assert seen == {
        "method": "GET",
        "path": "/ws/request/",
        "host": "testserver",
        "secure": False,
        "query": "1",
        "cookie": "dark",
        "agent": "pytest",
    }


# A user named by the scope ----------------------------------------------------------------


def with_scope_user(user: Any) -> WebSocketClient:
    """A client of our application behind an ASGI middleware that sets ``scope["user"]``."""
    inner = WebSocketApplication(DjangoASGIHandler())

    async def authenticating_middleware(scope: Scope, receive: Receive, send: Send) -> None:
        await inner({**scope, "user": user}, receive, send)

    return WebSocketClient(authenticating_middleware, timeout=3.0)


async def test_a_user_an_asgi_middleware_set_is_the_connections_user() -> None:
    client = with_scope_user(await make_user())
    async with client.connect("/ws/handshake-left/") as ws:
        seen = await ws.receive_json()
    assert seen["username"] == "alice"
    assert seen["request_user"] == "alice"  # websocket.request.user, for Django helpers


async def test_the_scopes_user_wins_over_the_session_and_reads_none() -> None:
    alice, bob = await make_user(), await make_user("bob")
    client = with_scope_user(alice)
    await client.aforce_login(bob)
    assert client.application  # Django's handler loads SessionMiddleware: before the break
    with override_settings(SESSION_ENGINE="no.such.engine"):  # a session read would fail
        async with client.connect("/ws/members/") as ws:
            assert await ws.receive_text() == "welcome alice"


async def test_websocket_user_in_sync_code_is_the_scopes_user(
    ws_routes: Callable[[list[Any]], None],
) -> None:
    async def view(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await sync_to_async(lambda: websocket.user.get_username())())
        await websocket.close()

    ws_routes([path("ws/sync-user/", view)])
    client = with_scope_user(await make_user())
    async with client.connect("/ws/sync-user/") as ws:
        assert await ws.receive_text() == "alice"


async def test_an_anonymous_user_in_the_scope_is_refused_despite_a_session_cookie() -> None:
    client = with_scope_user(AnonymousUser())
    await client.aforce_login(await make_user())
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/members/")
    assert refused.value.status_code == 403


async def test_no_user_in_the_scope_leaves_the_session_in_charge() -> None:
    client = with_scope_user(None)
    await client.aforce_login(await make_user())
    async with client.connect("/ws/members/") as ws:
        assert await ws.receive_text() == "welcome alice"


async def test_alogin_and_alogout_work_beside_a_scope_user() -> None:
    """alogin() replaces the scope's user for the rest of the connection and persists."""
    alice = await make_user()
    client = with_scope_user(await make_user("bob"))
    async with client.connect(f"/ws/login/{alice.get_username()}/") as ws:
        assert await ws.receive_json() == {"username": "alice"}
    assert (await http_whoami(client.cookies)).startswith("alice ")

    async with client.connect("/ws/logout/") as ws:
        await ws.send_text("log me out")
        assert await ws.receive_json() == {"authenticated": False}
    assert (await http_whoami(client.cookies)).startswith("anonymous")
