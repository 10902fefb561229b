"""An exception in a view: logged once with its traceback, mailable, never shown to the client."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.core import mail
from django.test import override_settings
from django.utils.log import AdminEmailHandler

from django_asgi_ws.test import WebSocketClient, WebSocketRefused

SECRET = "secret detail that must not reach the client"
# Django 6.0 takes plain addresses and deprecates the (name, address) pairs before it.
ADMINS: list[Any] = (
    ["admin@example.com"] if django.VERSION >= (6, 0) else [("Admin", "admin@example.com")]
)


@pytest.fixture
def mail_admins() -> Iterator[None]:
    """Logging set up as Django's default sets up django.request, for our logger."""
    handler = AdminEmailHandler()
    handler.setLevel(logging.ERROR)
    logger = logging.getLogger("django_asgi_ws")
    logger.addHandler(handler)
    yield
    logger.removeHandler(handler)


@override_settings(DEBUG=True)
async def test_after_accept_the_client_gets_1011_and_nothing_else_even_with_debug(
    client: WebSocketClient,
) -> None:
    async with client.connect("/ws/raise-after-accept/") as ws:
        await ws.send_text("go")
        assert await ws.wait_closed() == 1011
        assert ws.close_reason == ""


@override_settings(DEBUG=True)
async def test_before_accept_the_client_gets_a_bare_500_even_with_debug(
    client: WebSocketClient,
) -> None:
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/raise-before-accept/")
    assert refused.value.status_code == 500
    assert refused.value.body == b"500 Internal Server Error\n"


@pytest.mark.parametrize("path", ["/ws/raise-after-accept/", "/ws/raise-before-accept/"])
async def test_the_error_is_logged_once_with_its_traceback(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    with caplog.at_level(logging.DEBUG):
        try:
            async with client.connect(path) as ws:
                await ws.send_text("go")
                await ws.wait_closed()
        except WebSocketRefused:
            pass
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].name == "django_asgi_ws"
    assert errors[0].getMessage() == f"Internal error in websocket view for {path}"
    assert errors[0].exc_info is not None
    assert str(errors[0].exc_info[1]) == SECRET
    assert caplog.text.count("Traceback") == 1


@override_settings(ADMINS=ADMINS, DEBUG=False)
async def test_admins_get_an_email_like_for_a_500_when_logging_says_so(
    client: WebSocketClient, mail_admins: None
) -> None:
    async with client.connect(
        "/ws/raise-after-accept/?room=7", headers={"user-agent": "ua/1"}
    ) as ws:
        await ws.send_text("go")
        assert await ws.wait_closed() == 1011
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["admin@example.com"]
    assert "Internal error in websocket view for /ws/raise-after-accept/" in email.subject
    assert "ValueError" in email.body
    assert SECRET in email.body  # the admins see it; the client never does
    assert "ua/1" in email.body  # with the request, as for an HTTP 500
    assert "room" in email.body


@override_settings(ADMINS=ADMINS, DEBUG=False)
async def test_no_email_for_a_client_that_just_leaves(
    client: WebSocketClient, mail_admins: None
) -> None:
    async with client.connect("/ws/echo/") as ws:
        await ws.send_text("hi")
        await ws.receive_text()
    assert mail.outbox == []
