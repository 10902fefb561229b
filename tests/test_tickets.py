"""Tickets at the handshake: who they let in, what they refuse, and what they leave behind."""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from django.test import override_settings
from django.urls import path

from django_asgi_ws import WebSocket
from django_asgi_ws.asgi_types import Receive, Scope, Send
from django_asgi_ws.handler import WebSocketApplication
from django_asgi_ws.test import WebSocketClient, WebSocketRefused
from django_asgi_ws.tickets import (
    QUERY_PARAMETER,
    SUBPROTOCOL_PREFIX,
    InvalidTicket,
    Reason,
    issue_ticket,
    verify_ticket,
)
from django_asgi_ws.tickets.handshake import presents_ticket
from django_asgi_ws.tickets.signing import SALT
from tests.accounts import make_user

pytestmark = pytest.mark.django_db(transaction=True)

HOLDER = "/ws/handshake-left/"


def offered(ticket: str) -> str:
    return SUBPROTOCOL_PREFIX + ticket


def issued_seconds_ago(user: Any, seconds: float, **options: Any) -> str:
    """A ticket whose timestamp says it was issued *seconds* ago (signing's clock only)."""
    then = time.time() - seconds
    with mock.patch.object(signing, "time", SimpleNamespace(time=lambda: then)):
        return issue_ticket(user, **options)


async def seen_by_the_view(client: WebSocketClient, url: str = HOLDER, **options: Any) -> Any:
    async with client.connect(url, **options) as ws:
        return await ws.receive_json()


@contextmanager
def refused_with(caplog: pytest.LogCaptureFixture, reason: Reason, *secrets: str) -> Iterator[None]:
    """The handshake must be refused with 403 and one security warning naming *reason*.

    None of *secrets* (the tickets presented) may appear in the log.
    """
    with (
        caplog.at_level(logging.DEBUG, logger="django_asgi_ws"),
        pytest.raises(WebSocketRefused) as refused,
    ):
        yield
    assert refused.value.status_code == 403
    assert refused.value.body == b"403 Forbidden\n"
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert [record.name for record in warnings] == ["django_asgi_ws.security"]
    assert warnings[0].ticket_refusal == reason.name  # type: ignore[attr-defined]
    assert reason.value in warnings[0].getMessage()
    assert HOLDER in warnings[0].getMessage()
    for secret in secrets:
        assert secret not in caplog.text


# Accepted ----------------------------------------------------------------------------


async def test_a_ticket_offered_as_a_subprotocol_is_the_connections_user(
    client: WebSocketClient,
) -> None:
    ticket = issue_ticket(await make_user())
    async with client.connect(HOLDER, subprotocols=[offered(ticket)]) as ws:
        seen = await ws.receive_json()
        assert ws.subprotocol is None  # the server never selects the ticket
    assert seen["username"] == "alice"
    assert seen["request_user"] == "alice"


async def test_the_ticket_subprotocol_never_reaches_the_view(client: WebSocketClient) -> None:
    """A view that accepts the first offered subprotocol picks the client's own, never the
    ticket's; the header no longer carries it either."""
    ticket = issue_ticket(await make_user())
    async with client.connect(HOLDER, subprotocols=[offered(ticket), "chat.v1"]) as ws:
        seen = await ws.receive_json()
        assert ws.subprotocol == "chat.v1"
    assert seen["subprotocols"] == ["chat.v1"]
    assert seen["protocol_header"] == "chat.v1"


async def test_a_ticket_in_the_query_string_is_the_connections_user(
    client: WebSocketClient,
) -> None:
    ticket = issue_ticket(await make_user())
    seen = await seen_by_the_view(client, f"{HOLDER}?room=1&{QUERY_PARAMETER}={ticket}&q=2")
    assert seen["username"] == "alice"
    # Neither the view nor its HttpRequest (nor an error report made of it) sees the ticket.
    assert seen["query"] == "room=1&q=2"
    assert seen["request_query"] == "room=1&q=2"


async def test_a_ticket_satisfies_the_access_decorators(client: WebSocketClient) -> None:
    ticket = issue_ticket(await make_user())
    async with client.connect("/ws/members/", subprotocols=[offered(ticket)]) as ws:
        assert await ws.receive_text() == "welcome alice"


async def test_a_ticket_is_used_without_a_session_cookie_or_a_session(
    client: WebSocketClient,
) -> None:
    ticket = issue_ticket(await make_user())
    assert client.application  # Django's handler loads SessionMiddleware: before the break
    with override_settings(SESSION_ENGINE="no.such.engine"):  # a session read would fail
        async with client.connect("/ws/members/", subprotocols=[offered(ticket)]) as ws:
            assert await ws.receive_text() == "welcome alice"


async def test_a_reusable_ticket_opens_several_connections(client: WebSocketClient) -> None:
    ticket = issue_ticket(await make_user())
    for _ in range(3):
        assert (await seen_by_the_view(client, subprotocols=[offered(ticket)]))["username"] == (
            "alice"
        )


async def test_a_ticket_just_within_its_max_age_is_accepted(client: WebSocketClient) -> None:
    ticket = issued_seconds_ago(await make_user(), 59)
    assert (await seen_by_the_view(client, subprotocols=[offered(ticket)]))["username"] == "alice"


async def test_a_ticket_signed_before_a_secret_key_rotation_is_accepted(
    client: WebSocketClient, settings: Any
) -> None:
    """SECRET_KEY_FALLBACKS applies to the signature and to the session auth hash."""
    user = await make_user()
    old_key = settings.SECRET_KEY
    ticket = issue_ticket(user)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-key-" * 5, [old_key]
    assert (await seen_by_the_view(client, subprotocols=[offered(ticket)]))["username"] == "alice"


async def test_the_ticket_replaces_a_user_an_asgi_middleware_set(
    client: WebSocketClient,
) -> None:
    ticket = issue_ticket(await make_user())
    inner = WebSocketApplication(DjangoASGIHandler())

    async def anonymous_by_default(scope: Scope, receive: Receive, send: Send) -> None:
        await inner({**scope, "user": AnonymousUser()}, receive, send)

    client = WebSocketClient(anonymous_by_default)
    assert (await seen_by_the_view(client, subprotocols=[offered(ticket)]))["username"] == "alice"


async def test_a_query_parameter_that_only_looks_like_the_ticket_is_left_alone(
    client: WebSocketClient,
) -> None:
    seen = await seen_by_the_view(client, "/ws/describe/1/?not_ws_ticket=1&q=ws_ticket")
    assert seen["query"] == ["ws_ticket"]


# Refused -----------------------------------------------------------------------------


async def test_an_expired_ticket_is_refused(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    ticket = issued_seconds_ago(await make_user(), 61)
    with refused_with(caplog, Reason.EXPIRED, ticket):
        await client.connect(HOLDER, subprotocols=[offered(ticket)])


@override_settings(WEBSOCKET_TICKET_MAX_AGE=5)
async def test_the_max_age_setting_applies_when_the_ticket_is_presented(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    ticket = issued_seconds_ago(await make_user(), 6)
    with refused_with(caplog, Reason.EXPIRED, ticket):
        await client.connect(f"{HOLDER}?{QUERY_PARAMETER}={ticket}")


async def test_a_ticket_altered_to_name_another_user_is_refused_as_forged(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await make_user()
    mallory = await make_user("mallory")
    payload, timestamp, signature = issue_ticket(mallory).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims[0] = str(alice.pk)
    altered = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode())
    forged = f"{altered.decode().rstrip('=')}.{timestamp}.{signature}"
    with refused_with(caplog, Reason.FORGED, forged):
        await client.connect(HOLDER, subprotocols=[offered(forged)])


async def test_a_ticket_signed_with_another_secret_key_is_refused_as_forged(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    user = await make_user()
    with override_settings(SECRET_KEY="another-site-entirely-" * 3):
        ticket = issue_ticket(user)
    with refused_with(caplog, Reason.FORGED, ticket):
        await client.connect(HOLDER, subprotocols=[offered(ticket)])


@pytest.mark.parametrize(
    "ticket",
    [
        "",
        "not-a-ticket",
        "two.parts",
        "four.parts.are.many",
        "bad!char.1a.sig",
        "a" * 2000 + ".1a.sig",
        # Signed here, but not a ticket's payload.
        signing.TimestampSigner(salt=SALT, sep=".").sign_object({"pk": 1}),
    ],
    ids=["empty", "one-part", "two-parts", "four-parts", "bad-char", "too-long", "not-a-list"],
)
async def test_a_malformed_ticket_is_refused(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture, ticket: str
) -> None:
    with refused_with(caplog, Reason.MALFORMED, *([ticket] if ticket else [])):
        await client.connect(f"{HOLDER}?{QUERY_PARAMETER}={ticket}")


async def test_a_single_use_ticket_is_refused_the_second_time(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    ticket = issue_ticket(await make_user(), single_use=True)
    assert (await seen_by_the_view(client, subprotocols=[offered(ticket)]))["username"] == "alice"
    with refused_with(caplog, Reason.REUSED, ticket):
        await client.connect(f"{HOLDER}?{QUERY_PARAMETER}={ticket}")


async def change_password(user: Any) -> None:
    user.set_password("changed")
    await user.asave()


async def deactivate(user: Any) -> None:
    user.is_active = False
    await user.asave()


async def delete(user: Any) -> None:
    await user.adelete()


@pytest.mark.parametrize(
    ("void", "reason"),
    [
        (change_password, Reason.PASSWORD_CHANGED),
        (deactivate, Reason.USER_INACTIVE),  # as ModelBackend refuses an inactive user
        (delete, Reason.USER_GONE),
    ],
    ids=["password-changed", "inactive", "deleted"],
)
async def test_a_ticket_outlived_by_its_users_standing_is_refused(
    client: WebSocketClient,
    caplog: pytest.LogCaptureFixture,
    void: Callable[[Any], Awaitable[None]],
    reason: Reason,
) -> None:
    user = await make_user()
    ticket = issue_ticket(user)
    await void(user)
    with refused_with(caplog, reason, ticket):
        await client.connect(HOLDER, subprotocols=[offered(ticket)])


async def test_two_tickets_are_refused_rather_than_one_chosen(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    alice, bob = await make_user(), await make_user("bob")
    first, second = issue_ticket(alice), issue_ticket(bob)
    with refused_with(caplog, Reason.SEVERAL, first, second):
        await client.connect(f"{HOLDER}?{QUERY_PARAMETER}={first}", subprotocols=[offered(second)])


async def test_a_refused_ticket_never_runs_the_view(
    client: WebSocketClient, ws_routes: Callable[[list[Any]], None]
) -> None:
    ran = []

    async def view(websocket: WebSocket) -> None:
        ran.append(True)
        await websocket.accept()

    ws_routes([path("ws/open/", view)])
    with pytest.raises(WebSocketRefused):
        await client.connect("/ws/open/", subprotocols=[offered("not-a-ticket")])
    assert ran == []


async def test_the_origin_check_runs_before_the_ticket_is_looked_at(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    ticket = issue_ticket(await make_user(), single_use=True)
    with (
        caplog.at_level(logging.WARNING, logger="django_asgi_ws"),
        pytest.raises(WebSocketRefused) as refused,
    ):
        await client.connect(
            HOLDER, headers={"origin": "https://evil.example"}, subprotocols=[offered(ticket)]
        )
    assert refused.value.status_code == 403
    assert "not an allowed origin" in caplog.text
    assert ticket not in caplog.text
    # Not spent by the refused handshake.
    assert (await seen_by_the_view(client, subprotocols=[offered(ticket)]))["username"] == "alice"


async def test_a_path_without_a_route_is_404_and_spends_no_ticket(client: WebSocketClient) -> None:
    ticket = issue_ticket(await make_user(), single_use=True)
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/nowhere/", subprotocols=[offered(ticket)])
    assert refused.value.status_code == 404
    assert (await seen_by_the_view(client, subprotocols=[offered(ticket)]))["username"] == "alice"


async def test_a_cache_that_fails_refuses_with_500_and_logs_the_error(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    ticket = issue_ticket(await make_user(), single_use=True)
    with (
        override_settings(WEBSOCKET_TICKET_CACHE="nowhere"),
        caplog.at_level(logging.ERROR, logger="django_asgi_ws"),
        pytest.raises(WebSocketRefused) as refused,
    ):
        await client.connect(HOLDER, subprotocols=[offered(ticket)])
    assert refused.value.status_code == 500
    assert "Cannot verify the ticket of websocket /ws/handshake-left/" in caplog.text
    assert ticket not in caplog.text


# What costs nothing ---------------------------------------------------------------------


@override_settings(WEBSOCKET_TICKET_CACHE="nowhere", WEBSOCKET_TICKET_MAX_AGE="broken")
async def test_a_connection_without_a_ticket_reads_nothing_of_the_tickets(
    client: WebSocketClient,
) -> None:
    async with client.connect("/ws/echo/?q=1", subprotocols=["chat"]) as ws:
        await ws.send_text("still here")
        assert await ws.receive_text() == "still here"


@pytest.mark.parametrize(
    ("subprotocols", "query", "presents"),
    [
        ([], b"", False),
        (["chat.v1"], b"q=1", False),
        ([SUBPROTOCOL_PREFIX + "x"], b"", True),
        ([], b"ws_ticket=x", True),
    ],
)
def test_presents_ticket_is_a_cheap_first_look(
    subprotocols: list[str], query: bytes, presents: bool
) -> None:
    scope = {"type": "websocket", "subprotocols": subprotocols, "query_string": query}
    assert presents_ticket(scope) is presents


# Issuing and verifying -------------------------------------------------------------------


def test_issuing_a_ticket_writes_nothing(django_assert_num_queries: Any) -> None:
    user = User.objects.create_user("alice", password="pw")
    with django_assert_num_queries(0):
        ticket = issue_ticket(user)
        single = issue_ticket(user, single_use=True)
    # An HTTP token: fits a Sec-WebSocket-Protocol value and a URL as it is.
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", ticket)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", single)
    assert len(single) < 160


def test_no_ticket_for_an_anonymous_user() -> None:
    with pytest.raises(ValueError, match="not authenticated"):
        issue_ticket(AnonymousUser())


def test_verify_ticket_returns_the_user_or_says_why_not() -> None:
    user = User.objects.create_user("alice", password="pw")
    assert verify_ticket(issue_ticket(user)) == user
    with pytest.raises(InvalidTicket) as invalid:
        verify_ticket("not-a-ticket")
    assert invalid.value.reason is Reason.MALFORMED


@override_settings(
    CACHES={
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "dummy": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    },
    WEBSOCKET_TICKET_CACHE="dummy",
)
def test_a_dummy_cache_cannot_hold_single_use_tickets() -> None:
    """It would accept the same ticket every time: refused loudly instead."""
    user = User.objects.create_user("alice", password="pw")
    with pytest.raises(ImproperlyConfigured, match="DummyCache"):
        issue_ticket(user, single_use=True)
    assert verify_ticket(issue_ticket(user)) == user  # reusable tickets need no cache


async def test_a_single_use_ticket_presented_with_a_dummy_cache_is_refused_with_500(
    client: WebSocketClient,
) -> None:
    ticket = issue_ticket(await make_user(), single_use=True)
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }
    with override_settings(CACHES=caches), pytest.raises(WebSocketRefused) as refused:
        await client.connect(HOLDER, subprotocols=[offered(ticket)])
    assert refused.value.status_code == 500
