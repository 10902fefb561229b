"""WebSocketView through the in-process test client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from asgiref.sync import iscoroutinefunction
from django.core.exceptions import ImproperlyConfigured

from django_asgi_ws import WebSocketDisconnect
from django_asgi_ws.test import WebSocketClient, WebSocketRefused
from django_asgi_ws.views import WebSocketView
from tests import view_urls
from tests.ws_views import JSONCounter


@pytest.fixture
def view_urlconf(settings: Any) -> Iterator[list[tuple[str, int]]]:
    """Route to tests.view_urls; yields its record of on_disconnect calls."""
    settings.WEBSOCKET_URLCONF = "tests.view_urls"
    view_urls.on_disconnect_calls.clear()
    yield view_urls.on_disconnect_calls
    view_urls.on_disconnect_calls.clear()


# Encodings -------------------------------------------------------------------


async def test_the_json_counter_starts_from_its_initkwarg(client: WebSocketClient) -> None:
    async with client.connect("/ws/counter/") as ws:
        await ws.send_json({"add": 1})
        assert await ws.receive_json() == {"count": 11}
        await ws.send_json({"add": 5})
        assert await ws.receive_json() == {"count": 16}


async def test_a_json_view_closes_malformed_json_with_1007(client: WebSocketClient) -> None:
    async with client.connect("/ws/counter/") as ws:
        await ws.send_text("{not json")
        assert await ws.wait_closed() == 1007


async def test_a_json_view_closes_a_binary_message_with_1003(client: WebSocketClient) -> None:
    async with client.connect("/ws/counter/") as ws:
        await ws.send_bytes(b'{"add": 1}')
        assert await ws.wait_closed() == 1003


async def test_a_text_view_hands_str_to_on_receive(client: WebSocketClient) -> None:
    async with client.connect("/ws/text-only/") as ws:
        await ws.send_text("shout")
        assert await ws.receive_text() == "SHOUT"


async def test_a_text_view_closes_a_binary_message_with_1003(client: WebSocketClient) -> None:
    async with client.connect("/ws/text-only/") as ws:
        await ws.send_bytes(b"shout")
        assert await ws.wait_closed() == 1003


async def test_a_bytes_view_hands_bytes_to_on_receive(client: WebSocketClient) -> None:
    async with client.connect("/ws/bytes-only/") as ws:
        await ws.send_bytes(b"\x01\x02\x03")
        assert await ws.receive_bytes() == b"\x03\x02\x01"


async def test_a_bytes_view_closes_a_text_message_with_1003(client: WebSocketClient) -> None:
    async with client.connect("/ws/bytes-only/") as ws:
        await ws.send_text("abc")
        assert await ws.wait_closed() == 1003


async def test_without_an_encoding_str_and_bytes_pass_through(
    client: WebSocketClient, view_urlconf: list[tuple[str, int]]
) -> None:
    async with client.connect("/echo/") as ws:
        await ws.send_text("hello")
        assert await ws.receive_text() == "str hello"
        await ws.send_bytes(b"\x00hello")
        assert await ws.receive_bytes() == b"bytes \x00hello"
        await ws.send_text('{"not": "decoded"}')
        assert await ws.receive_text() == 'str {"not": "decoded"}'


# on_disconnect -----------------------------------------------------------------


async def test_on_disconnect_gets_the_clients_close_code_when_the_client_leaves(
    client: WebSocketClient, view_urlconf: list[tuple[str, int]]
) -> None:
    ws = await client.connect("/echo/")
    await ws.send_text("hello")
    assert await ws.receive_text() == "str hello"
    await ws.close(1001)
    assert view_urlconf == [("Echo", 1001)]


async def test_on_disconnect_gets_1011_when_on_receive_raises(
    client: WebSocketClient, view_urlconf: list[tuple[str, int]]
) -> None:
    async with client.connect("/fails/") as ws:
        await ws.send_text("hello")
        assert await ws.wait_closed() == 1011
    assert view_urlconf == [("FailsInOnReceive", 1011)]


async def test_on_disconnect_gets_the_code_of_a_raised_websocket_exception(
    client: WebSocketClient, view_urlconf: list[tuple[str, int]]
) -> None:
    async with client.connect("/raises/") as ws:
        await ws.send_text("hello")
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive()
    assert (closed.value.code, closed.value.reason) == (4002, "raised by the view")
    assert view_urlconf == [("RaisesWebSocketException", 4002)]


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        ("permission-denied", 1008),
        ("http404", 1008),
        ("suspicious-operation", 1008),
        ("bad-request", 1008),
        ("value-error", 1011),
    ],
)
async def test_on_disconnect_gets_the_code_the_client_gets_when_on_receive_raises(
    client: WebSocketClient, view_urlconf: list[tuple[str, int]], raised: str, code: int
) -> None:
    async with client.connect(f"/raises/{raised}/") as ws:
        await ws.send_text("hello")
        assert await ws.wait_closed() == code
    assert view_urlconf == [("RaisesInOnReceive", code)]


async def test_on_disconnect_gets_1001_not_1011_when_the_view_is_cancelled(
    client: WebSocketClient, view_urlconf: list[tuple[str, int]]
) -> None:
    ws = await client.connect("/raises/cancelled/")
    await ws.send_text("hello")
    # The server closes a cancelled view's connection, not the application.
    with pytest.raises(AssertionError, match="returned without closing"):
        await ws.wait_closed()
    assert view_urlconf == [("RaisesInOnReceive", 1001)]


async def test_on_disconnect_gets_the_views_own_code_when_the_view_closes(
    client: WebSocketClient, view_urlconf: list[tuple[str, int]]
) -> None:
    async with client.connect("/closes-itself/") as ws:
        await ws.send_text("hello")
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive()
    assert (closed.value.code, closed.value.reason) == (4000, "closed by the view")
    assert view_urlconf == [("ClosesItself", 4000)]


async def test_on_disconnect_is_called_when_on_connect_accepts_then_closes(
    client: WebSocketClient, view_urlconf: list[tuple[str, int]]
) -> None:
    async with client.connect("/accepts-then-closes/") as ws:
        assert await ws.wait_closed() == 4003
    assert view_urlconf == [("AcceptsThenCloses", 4003)]


async def test_on_disconnect_is_not_called_when_on_connect_refuses(
    client: WebSocketClient, view_urlconf: list[tuple[str, int]]
) -> None:
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/refuses/")
    assert refused.value.status_code == 403
    assert view_urlconf == []


# One instance per connection, URL arguments ---------------------------------------


async def test_each_connection_has_its_own_view_instance(client: WebSocketClient) -> None:
    async with client.connect("/ws/counter/") as first, client.connect("/ws/counter/") as second:
        await first.send_json({"add": 1})
        assert await first.receive_json() == {"count": 11}
        await second.send_json({"add": 5})
        assert await second.receive_json() == {"count": 15}
        await first.send_json({"add": 1})
        assert await first.receive_json() == {"count": 12}


async def test_url_kwargs_reach_self_kwargs(
    client: WebSocketClient, view_urlconf: list[tuple[str, int]]
) -> None:
    async with client.connect("/arguments/lobby/7/") as ws:
        assert await ws.receive_json() == {"args": [], "kwargs": {"room": "lobby", "number": 7}}


async def test_positional_url_arguments_reach_self_args(
    client: WebSocketClient, view_urlconf: list[tuple[str, int]]
) -> None:
    async with client.connect("/arguments/2024/") as ws:
        assert await ws.receive_json() == {"args": ["2024"], "kwargs": {}}


# as_view() ---------------------------------------------------------------------


def test_as_view_rejects_an_unknown_initkwarg_with_type_error() -> None:
    with pytest.raises(TypeError, match=r"JSONCounter\.as_view\(\) received the invalid keyword"):
        JSONCounter.as_view(stat=10)


def test_as_view_rejects_a_bad_encoding_on_the_class_with_improperly_configured() -> None:
    class XMLView(WebSocketView):
        encoding: ClassVar[Any] = "xml"

    with pytest.raises(
        ImproperlyConfigured,
        match=r"XMLView\.encoding must be None, 'text', 'bytes' or 'json', not 'xml'",
    ):
        XMLView.as_view()


def test_as_view_rejects_a_bad_encoding_given_as_an_initkwarg() -> None:
    with pytest.raises(ImproperlyConfigured, match="encoding must be"):
        JSONCounter.as_view(encoding="xml")


def test_as_view_returns_a_coroutine_function() -> None:
    assert iscoroutinefunction(JSONCounter.as_view())


def test_as_view_result_carries_view_class_and_view_initkwargs() -> None:
    view = JSONCounter.as_view(start=10)
    assert view.view_class is JSONCounter  # type: ignore[attr-defined]
    assert view.view_initkwargs == {"start": 10}  # type: ignore[attr-defined]


async def test_initkwargs_are_set_on_the_instance_not_the_class(
    client: WebSocketClient,
) -> None:
    async with client.connect("/ws/counter/") as ws:
        await ws.send_json({"add": 0})
        assert await ws.receive_json() == {"count": 10}
    assert JSONCounter.start == 0


async def test_the_base_view_accepts_and_ignores_messages(
    client: WebSocketClient, view_urlconf: list[tuple[str, int]]
) -> None:
    async with client.connect("/plain/") as ws:
        await ws.send_text("hello")
        await ws.send_bytes(b"hello")
        assert await ws.receive_nothing()
