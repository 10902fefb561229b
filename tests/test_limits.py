"""Per-connection limits: message size (1009), message rate (1008), handshake time (503)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import override_settings

from django_asgi_ws import limits
from django_asgi_ws.limits import RateLimiter, parse_rate
from django_asgi_ws.test import WebSocketClient, WebSocketRefused
from tests import security_views

# Rates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20/s", (20, 1.0)),
        ("20/second", (20, 1.0)),
        (" 600 / m ", (600, 60.0)),
        ("600/minute", (600, 60.0)),
        ("5000/h", (5000, 3600.0)),
        ("1/hour", (1, 3600.0)),
    ],
)
def test_rates_are_a_count_per_unit(text: str, expected: tuple[int, float]) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["", "20", "0/s", "-1/s", "20/d", "1.5/s", "s/20", 20, None])
def test_anything_else_is_not_a_rate(text: Any) -> None:
    with pytest.raises(ValueError, match='A rate looks like "20/s"'):
        parse_rate(text)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(limits.time, "monotonic", fake)
    return fake


def test_a_burst_up_to_the_count_is_allowed_then_refused(clock: FakeClock) -> None:
    limiter = RateLimiter(5, 1.0)
    assert [limiter.allow() for _ in range(6)] == [True] * 5 + [False]


def test_tokens_come_back_at_the_rate(clock: FakeClock) -> None:
    limiter = RateLimiter(10, 1.0)
    for _ in range(10):
        limiter.allow()
    assert not limiter.allow()
    clock.now += 0.1  # one token's worth
    assert limiter.allow()
    assert not limiter.allow()
    clock.now += 60  # never more than a full bucket
    assert sum(limiter.allow() for _ in range(20)) == 10


def test_a_client_under_the_rate_is_never_cut_off(clock: FakeClock) -> None:
    limiter = RateLimiter(2, 1.0)
    for _ in range(1000):
        clock.now += 0.5
        assert limiter.allow()


# Through the handler -------------------------------------------------------------------


@override_settings(WEBSOCKET_MAX_MESSAGE_SIZE=8)
@pytest.mark.parametrize(
    ("message", "closed"),
    [
        (b"12345678", False),
        (b"123456789", True),
        ("12345678", False),
        ("123456789", True),
        ("éééé", False),  # 8 bytes of UTF-8
        ("ééééé", True),  # 10 bytes, although 5 characters
        ("😀😀", False),  # 8 bytes
        ("😀😀😀", True),
    ],
)
async def test_a_message_over_the_size_limit_closes_with_1009(
    client: WebSocketClient, message: str | bytes, closed: bool
) -> None:
    """Servers enforce the limit too (runasgi sets it); this holds behind any server."""
    async with client.connect("/ws/echo/") as ws:
        if isinstance(message, str):
            await ws.send_text(message)
        else:
            await ws.send_bytes(message)
        if closed:
            assert await ws.wait_closed() == 1009
            assert ws.close_reason == "Messages are limited to 8 bytes."
        else:
            assert await ws.receive() == message


async def test_there_is_no_rate_limit_by_default(client: WebSocketClient) -> None:
    async with client.connect("/ws/echo/") as ws:
        for number in range(500):
            await ws.send_text(str(number))
        for number in range(500):
            assert await ws.receive_text() == str(number)


@override_settings(WEBSOCKET_RATE_LIMIT="5/m")
async def test_a_client_over_the_rate_limit_is_closed_with_1008(client: WebSocketClient) -> None:
    async with client.connect("/ws/echo/") as ws:
        for number in range(5):
            await ws.send_text(str(number))
            assert await ws.receive_text() == str(number)
        await ws.send_text("one too many")
        assert await ws.wait_closed() == 1008
        assert ws.close_reason == "Message rate limit exceeded."


@override_settings(WEBSOCKET_RATE_LIMIT="2/h")
async def test_the_rate_limit_is_per_connection(client: WebSocketClient) -> None:
    for _ in range(3):
        async with client.connect("/ws/echo/") as ws:
            await ws.send_text("a")
            await ws.send_text("b")
            assert [await ws.receive_text(), await ws.receive_text()] == ["a", "b"]


@override_settings(WEBSOCKET_RATE_LIMIT="1/h")
async def test_a_class_view_sees_the_rate_limit_close_code(client: WebSocketClient) -> None:
    async with client.connect("/ws/counter/") as ws:
        await ws.send_json({"add": 1})
        await ws.receive_json()
        await ws.send_json({"add": 1})
        assert await ws.wait_closed() == 1008


@override_settings(WEBSOCKET_HANDSHAKE_TIMEOUT=0.2)
async def test_a_view_that_neither_accepts_nor_refuses_in_time_is_refused_with_503(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    security_views.slow_handshake.cleaned_up = False  # type: ignore[attr-defined]
    with (
        caplog.at_level(logging.WARNING, logger="django_asgi_ws"),
        pytest.raises(WebSocketRefused) as refused,
    ):
        await client.connect("/ws/slow-handshake/")
    assert refused.value.status_code == 503
    assert security_views.slow_handshake.cleaned_up is True  # type: ignore[attr-defined]
    assert "within 0.2 s (WEBSOCKET_HANDSHAKE_TIMEOUT)" in caplog.text


@override_settings(WEBSOCKET_HANDSHAKE_TIMEOUT=0.1)
async def test_the_handshake_timeout_ends_at_accept(client: WebSocketClient) -> None:
    async with client.connect("/ws/echo/") as ws:
        assert await ws.receive_nothing(0.3)
        await ws.send_text("still here")
        assert await ws.receive_text() == "still here"


@override_settings(WEBSOCKET_HANDSHAKE_TIMEOUT=None)
async def test_the_handshake_timeout_can_be_turned_off(client: WebSocketClient) -> None:
    security_views.slow_handshake.cleaned_up = False  # type: ignore[attr-defined]
    with pytest.raises(TimeoutError):
        await client.connect("/ws/slow-handshake/", timeout=0.3)
    # The test client gave up and cancelled the view; the server never did.
    assert security_views.slow_handshake.cleaned_up is True  # type: ignore[attr-defined]
