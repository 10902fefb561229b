"""Host and Origin checks: the defence against cross-site websocket hijacking, on by default."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import override_settings

from django_asgi_ws.conf import get_settings
from django_asgi_ws.origin import origin_policy
from django_asgi_ws.test import WebSocketClient, WebSocketRefused
from tests.accounts import make_user


def allowed(origin: str | None, host: str = "example.com") -> bool:
    return origin_policy(get_settings()).allows(origin, host)


# Derived from ALLOWED_HOSTS ----------------------------------------------------------


@override_settings(ALLOWED_HOSTS=["example.com"])
def test_an_origin_whose_host_is_in_allowed_hosts_is_allowed_on_any_scheme_and_port() -> None:
    assert allowed("https://example.com")
    assert allowed("http://example.com:8000")
    assert allowed("HTTPS://EXAMPLE.COM")


@override_settings(ALLOWED_HOSTS=["example.com"])
def test_an_origin_on_another_host_is_refused() -> None:
    assert not allowed("https://evil.example")
    assert not allowed("https://example.com.evil.example")
    assert not allowed("https://sub.example.com")


@override_settings(ALLOWED_HOSTS=[".example.com"])
def test_a_leading_dot_in_allowed_hosts_allows_the_domain_and_its_subdomains() -> None:
    assert allowed("https://example.com")
    assert allowed("https://chat.example.com")
    assert allowed("https://a.b.example.com")
    assert not allowed("https://notexample.com")


@override_settings(ALLOWED_HOSTS=["*"])
def test_a_star_in_allowed_hosts_allows_only_the_origin_of_the_host_connected_to() -> None:
    """'*' accepts any Host; treating it as 'any origin' would let every site in."""
    assert allowed("https://example.com", host="example.com")
    assert allowed("http://localhost:8000", host="localhost:8000")
    assert not allowed("https://evil.example", host="example.com")
    assert not allowed("http://localhost:9999", host="localhost:8000")


@override_settings(DEBUG=True, ALLOWED_HOSTS=[])
def test_with_debug_and_no_allowed_hosts_local_origins_are_allowed_as_django_allows_them() -> None:
    assert allowed("http://localhost:8000")
    assert allowed("http://app.localhost:8000")
    assert allowed("http://127.0.0.1:8000")
    assert allowed("http://[::1]:8000")
    assert not allowed("http://192.168.1.10:8000")


@override_settings(ALLOWED_HOSTS=["example.com"])
@pytest.mark.parametrize(
    "origin",
    [
        "null",  # sandboxed iframes, file:// pages
        "file://",
        "chrome-extension://abcdef",
        "ws://example.com",
        "example.com",
        "https://",
        "https://[::1",  # unparsable
        "",
        "https://example.com@evil.example",
    ],
)
def test_odd_or_malformed_origins_are_refused(origin: str) -> None:
    assert not allowed(origin)


# CSRF_TRUSTED_ORIGINS ----------------------------------------------------------------


@override_settings(
    ALLOWED_HOSTS=["example.com"],
    CSRF_TRUSTED_ORIGINS=["https://pages.partner.example", "https://*.cdn.example"],
)
def test_csrf_trusted_origins_are_allowed_with_their_scheme_and_wildcards() -> None:
    assert allowed("https://pages.partner.example")
    assert not allowed("http://pages.partner.example")  # the scheme counts
    assert not allowed("https://pages.partner.example:8443")  # so does the port
    assert allowed("https://eu.cdn.example")
    assert allowed("https://a.b.cdn.example")
    assert not allowed("http://eu.cdn.example")
    assert not allowed("https://cdn.example.evil")


# WEBSOCKET_ALLOWED_ORIGINS -----------------------------------------------------------


@override_settings(
    ALLOWED_HOSTS=["example.com"],
    CSRF_TRUSTED_ORIGINS=["https://trusted.example"],
    WEBSOCKET_ALLOWED_ORIGINS=["https://app.example", "https://*.tenants.example"],
)
def test_websocket_allowed_origins_replaces_what_is_derived() -> None:
    assert allowed("https://app.example")
    assert allowed("https://acme.tenants.example")
    assert not allowed("https://example.com")
    assert not allowed("https://trusted.example")


@override_settings(WEBSOCKET_ALLOWED_ORIGINS=["*"])
def test_a_star_in_websocket_allowed_origins_allows_every_origin() -> None:
    assert allowed("https://anything.example")
    assert allowed("null")


@override_settings(WEBSOCKET_ALLOWED_ORIGINS=[])
def test_an_empty_websocket_allowed_origins_allows_no_browser_at_all() -> None:
    assert not allowed("https://example.com")
    assert allowed(None)


@override_settings(WEBSOCKET_ALLOWED_ORIGINS=["null"])
def test_the_null_origin_is_allowed_only_when_listed() -> None:
    assert allowed("null")
    assert not allowed("https://example.com")


# Missing Origin ----------------------------------------------------------------------


def test_a_handshake_without_origin_is_allowed_by_default() -> None:
    """Non-browser clients (scripts, mobile apps, servers) send no Origin header."""
    assert allowed(None)


@override_settings(WEBSOCKET_ALLOW_MISSING_ORIGIN=False)
def test_handshakes_without_origin_can_be_refused() -> None:
    assert not allowed(None)


# Through the handler -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_foreign_page_with_a_valid_session_cookie_is_refused_with_403(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The hijacking attempt: the victim's browser sends their cookie to our site."""
    user = await make_user("victim")
    client = WebSocketClient()
    await client.aforce_login(user)

    async with client.connect("/ws/whoami/", headers={"origin": "http://testserver"}) as ws:
        assert (await ws.receive_json())["username"] == "victim"

    with (
        caplog.at_level(logging.WARNING, logger="django_asgi_ws"),
        pytest.raises(WebSocketRefused) as refused,
    ):
        await client.connect("/ws/whoami/", headers={"origin": "https://attacker.example"})
    assert refused.value.status_code == 403
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name == "django_asgi_ws.security"
    assert "'https://attacker.example'" in warnings[0].getMessage()
    assert "/ws/whoami/" in warnings[0].getMessage()


async def test_the_origin_is_checked_before_routing(client: WebSocketClient) -> None:
    """A foreign page learns nothing about which paths exist."""
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/no-such-route/", headers={"origin": "https://attacker.example"})
    assert refused.value.status_code == 403


async def test_a_host_outside_allowed_hosts_is_refused_with_400(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    """As Django refuses such a Host for HTTP: the defence against DNS rebinding."""
    with (
        caplog.at_level(logging.WARNING, logger="django_asgi_ws"),
        pytest.raises(WebSocketRefused) as refused,
    ):
        await client.connect("/ws/ping/", headers={"host": "rebound.example"})
    assert refused.value.status_code == 400
    assert "Invalid Host header 'rebound.example'" in caplog.text


@override_settings(USE_X_FORWARDED_HOST=True)
async def test_x_forwarded_host_is_the_host_when_django_is_told_to_trust_it(
    client: WebSocketClient,
) -> None:
    headers = {"host": "internal:8000", "x-forwarded-host": "testserver"}
    async with client.connect("/ws/ping/", headers=headers) as ws:
        await ws.send_text("ping")
        assert await ws.receive_text() == "pong!"
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/ping/", headers={"x-forwarded-host": "rebound.example"})
    assert refused.value.status_code == 400


@override_settings(ALLOWED_HOSTS=["*"])
@pytest.mark.parametrize(
    ("origin", "accepted"),
    [("http://testserver", True), ("https://testserver", True), ("https://evil.example", False)],
)
async def test_with_any_host_allowed_only_same_host_pages_connect(
    client: WebSocketClient, origin: str, accepted: bool
) -> None:
    if accepted:
        async with client.connect("/ws/ping/", headers={"origin": origin}) as ws:
            await ws.send_text("ping")
            assert await ws.receive_text() == "pong!"
    else:
        with pytest.raises(WebSocketRefused):
            await client.connect("/ws/ping/", headers={"origin": origin})


async def test_policy_follows_settings_changes(client: WebSocketClient, settings: Any) -> None:
    assert not origin_policy(get_settings()).allows("https://new.example", "testserver")
    settings.WEBSOCKET_ALLOWED_ORIGINS = ["https://new.example"]
    assert origin_policy(get_settings()).allows("https://new.example", "testserver")


async def test_verdicts_follow_settings_changes(client: WebSocketClient, settings: Any) -> None:
    headers = {"origin": "https://new.example"}
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/ping/", headers=headers)
    assert refused.value.status_code == 403
    settings.WEBSOCKET_ALLOWED_ORIGINS = ["https://new.example"]
    async with client.connect("/ws/ping/", headers=headers) as ws:
        await ws.send_text("ping")
        assert await ws.receive_text() == "pong!"
    settings.ALLOWED_HOSTS = ["elsewhere.example"]
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/ping/", headers=headers)
    assert refused.value.status_code == 400


async def test_a_refusal_is_logged_every_time_not_only_the_first(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        with pytest.raises(WebSocketRefused):
            await client.connect("/ws/ping/", headers={"origin": "https://evil.example"})
    refusals = [r for r in caplog.records if "not an allowed origin" in r.getMessage()]
    assert len(refusals) == 3
