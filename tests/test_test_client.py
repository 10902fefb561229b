"""The in-process WebSocketClient: what a test can do with it, and how it fails."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections
from django.test import TestCase

from django_asgi_ws import WebSocketDisconnect
from django_asgi_ws.test import WebSocketClient, WebSocketRefused
from tests.testapp.models import Note


async def test_text_and_binary_round_trips(client: WebSocketClient) -> None:
    async with client.connect("/ws/echo/") as ws:
        await ws.send_text("héllo")
        assert await ws.receive_text() == "héllo"
        await ws.send_bytes(b"\x00\xff")
        assert await ws.receive_bytes() == b"\x00\xff"


async def test_json_helpers(client: WebSocketClient) -> None:
    async with client.connect("/ws/counter/") as ws:
        await ws.send_json({"add": 5})
        assert await ws.receive_json() == {"count": 15}


async def test_the_chosen_subprotocol_and_accept_headers_are_exposed(
    client: WebSocketClient,
) -> None:
    async with client.connect("/ws/describe/1/", subprotocols=["v2", "v1"]) as ws:
        assert ws.subprotocol == "v2"
        assert (b"x-seen", b"yes") in ws.accept_headers
        assert (await ws.receive_json())["subprotocols"] == ["v2", "v1"]


async def test_headers_and_cookies_reach_the_view() -> None:
    client = WebSocketClient(headers={"User-Agent": "tests/1.0"})
    client.cookies["theme"] = "dark"
    async with client.connect("/ws/describe/1/", cookies={"lang": "fi"}) as ws:
        seen = await ws.receive_json()
    assert seen["user_agent"] == "tests/1.0"
    assert seen["cookies"] == {"theme": "dark", "lang": "fi"}


async def test_a_refusal_raises_with_the_status_and_body(client: WebSocketClient) -> None:
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/nowhere/")
    assert refused.value.status_code == 404
    assert refused.value.body == b"404 Not Found\n"


async def test_a_server_close_is_a_disconnect_with_code_and_reason(
    client: WebSocketClient,
) -> None:
    async with client.connect("/ws/close/4001/") as ws:
        await ws.send_text("x")
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_text()
        assert (closed.value.code, closed.value.reason) == (4001, "custom reason")
        assert (ws.close_code, ws.close_reason) == (4001, "custom reason")
        with pytest.raises(WebSocketDisconnect):
            await ws.receive_text()  # stays closed


async def test_wait_closed_returns_the_close_code(client: WebSocketClient) -> None:
    async with client.connect("/ws/return-without-closing/") as ws:
        assert await ws.receive_text() == "bye"
        assert await ws.wait_closed() == 1000


async def test_wait_closed_fails_if_the_server_sends_instead(client: WebSocketClient) -> None:
    async with client.connect("/ws/return-without-closing/") as ws:
        with pytest.raises(AssertionError, match="Expected the server to close"):
            await ws.wait_closed()


async def test_receive_times_out_instead_of_hanging(client: WebSocketClient) -> None:
    async with client.connect("/ws/echo/") as ws:
        with pytest.raises(TimeoutError, match=r"sent nothing within 0.05 s on /ws/echo/"):
            await ws.receive_text(timeout=0.05)


async def test_receive_nothing(client: WebSocketClient) -> None:
    async with client.connect("/ws/echo/") as ws:
        assert await ws.receive_nothing(0.02) is True
        await ws.send_text("x")
        assert await ws.receive_nothing(0.5) is False
        assert await ws.receive_text() == "x"


async def test_server_push_while_the_view_is_also_receiving(client: WebSocketClient) -> None:
    async with client.connect("/ws/push/") as ws:
        await ws.send_text("hi")
        received = {await ws.receive_text() for _ in range(4)}
    assert received == {"tick 0", "tick 1", "tick 2", "echo hi"}


async def test_leaving_the_block_disconnects_and_waits_for_the_view(
    client: WebSocketClient,
) -> None:
    from tests.ws_views import TextOnly

    TextOnly.disconnects.clear()
    async with client.connect("/ws/text-only/") as ws:
        await ws.send_text("a")
        assert await ws.receive_text() == "A"
    assert TextOnly.disconnects == [1000]


async def test_a_custom_client_close_code_reaches_the_view(client: WebSocketClient) -> None:
    from tests.ws_views import TextOnly

    TextOnly.disconnects.clear()
    ws = await client.connect("/ws/text-only/")
    await ws.close(4321)
    assert TextOnly.disconnects == [4321]


async def test_a_view_that_ignores_the_disconnect_fails_the_test() -> None:
    async def stubborn(scope: object, receive: object, send: object) -> None:
        await send({"type": "websocket.accept"})  # type: ignore[operator]
        await asyncio.sleep(10)

    client = WebSocketClient(stubborn, timeout=0.05)
    with pytest.raises(TimeoutError, match=r"did not return within 0\.05 s"):
        async with client.connect("/ws/"):
            pass


@pytest.mark.django_db(transaction=True)
async def test_views_use_the_database_in_a_transactional_pytest_test(
    client: WebSocketClient,
) -> None:
    await sync_to_async(Note.objects.create)(text="before")
    async with client.connect("/ws/notes/") as ws:
        await ws.send_text("from the socket")
        assert await ws.receive_json() == {"count": 2}
    assert await sync_to_async(Note.objects.filter(text="from the socket").count)() == 1
    # This test's own sync_to_async calls ran in asgiref's shared worker thread.
    await sync_to_async(connections.close_all)()


class DjangoTestCaseTests(TestCase):
    """Async test methods of Django's TestCase share the test's transaction with views."""

    async def test_views_see_rows_created_in_the_test(self) -> None:
        await Note.objects.acreate(text="made by the test")
        async with WebSocketClient().connect("/ws/notes/") as ws:
            await ws.send_text("made by the view")
            self.assertEqual(await ws.receive_json(), {"count": 2})

    async def test_force_login_sends_a_session_cookie_for_the_user(self) -> None:
        user = await User.objects.acreate(username="ada")
        client = WebSocketClient()
        await client.aforce_login(user)
        async with client.connect("/ws/describe/1/") as ws:
            cookies = (await ws.receive_json())["cookies"]
        session = SessionStore(session_key=cookies["sessionid"])
        self.assertEqual(await sync_to_async(session.get)("_auth_user_id"), str(user.pk))
