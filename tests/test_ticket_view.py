"""TicketView: a logged-in client's POST gets a ticket as JSON; nobody else gets one."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

from django_asgi_ws.tickets import InvalidTicket, Reason, verify_ticket

pytestmark = pytest.mark.django_db

CSRF_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]


@pytest.fixture
def alice() -> Any:
    return User.objects.create_user("alice", password="pw")


@pytest.fixture
def logged_in(alice: Any) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def test_a_logged_in_user_gets_a_ticket_for_themselves(logged_in: Client, alice: Any) -> None:
    response = logged_in.post("/ws-ticket/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"ticket", "max_age"}
    assert body["max_age"] == 60
    assert verify_ticket(body["ticket"]) == alice


def test_a_ticket_is_never_cached(logged_in: Client) -> None:
    assert logged_in.post("/ws-ticket/")["Cache-Control"] == "no-store"


@override_settings(WEBSOCKET_TICKET_MAX_AGE=15)
def test_max_age_is_the_setting(logged_in: Client) -> None:
    assert logged_in.post("/ws-ticket/").json()["max_age"] == 15


def test_an_anonymous_visitor_gets_403_as_json() -> None:
    response = Client().post("/ws-ticket/")
    assert response.status_code == 403
    assert response.json() == {"error": "not_authenticated"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("method", ["get", "put", "delete", "head", "options"])
def test_any_method_but_post_is_405_as_json(logged_in: Client, method: str) -> None:
    response = getattr(logged_in, method)("/ws-ticket/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    if method != "head":
        assert response.json() == {"error": "method_not_allowed"}


@override_settings(MIDDLEWARE=CSRF_MIDDLEWARE)
def test_a_page_must_send_the_csrf_token(alice: Any) -> None:
    """As for any POST view: another site's page cannot make a browser ask for one."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    token = "k" * 32
    client.cookies["csrftoken"] = token
    assert client.post("/ws-ticket/").status_code == 403
    response = client.post("/ws-ticket/", headers={"X-CSRFToken": token})
    assert response.status_code == 200
    assert verify_ticket(response.json()["ticket"]) == alice


def test_a_single_use_view_issues_single_use_tickets(logged_in: Client, alice: Any) -> None:
    ticket = logged_in.post("/ws-ticket/single-use/").json()["ticket"]
    assert verify_ticket(ticket) == alice
    with pytest.raises(InvalidTicket) as invalid:
        verify_ticket(ticket)
    assert invalid.value.reason is Reason.REUSED


def test_reusable_tickets_by_default(logged_in: Client, alice: Any) -> None:
    ticket = logged_in.post("/ws-ticket/").json()["ticket"]
    assert verify_ticket(ticket) == verify_ticket(ticket) == alice


@override_settings(MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"])
def test_without_authentication_middleware_the_view_says_what_is_missing() -> None:
    with pytest.raises(ImproperlyConfigured, match="AuthenticationMiddleware"):
        Client().post("/ws-ticket/")
