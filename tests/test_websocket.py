"""The WebSocket object on its own, driven with raw ASGI messages (no handler, no routing)."""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from django.http import QueryDict
from django.urls import ResolverMatch
from django.utils.translation import gettext_lazy

from django_asgi_ws import WebSocket, WebSocketDisconnect, WebSocketException, WebSocketState

Message = dict[str, Any]

INVALID_CLOSE_CODES = [999, 1004, 1005, 1006, 1015, 2999, 5000]
VALID_CLOSE_CODES = [1000, 1003, 1007, 1014, 3000, 4999]


class FakeServer:
    """The server's side of one connection: what it will deliver, and what it was sent."""

    def __init__(self, *incoming: Message, fail_sends_with: OSError | None = None) -> None:
        self.incoming = list(incoming)
        self.sent: list[Message] = []
        self.fail_sends_with = fail_sends_with

    async def receive(self) -> Message:
        if not self.incoming:
            raise AssertionError("The application read past the last message.")
        return self.incoming.pop(0)

    async def send(self, message: Any) -> None:
        if self.fail_sends_with is not None:
            raise self.fail_sends_with
        self.sent.append(dict(message))


def text(data: str) -> Message:
    return {"type": "websocket.receive", "text": data}


def binary(data: bytes) -> Message:
    return {"type": "websocket.receive", "bytes": data}


def disconnect(code: int = 1000, reason: str | None = None) -> Message:
    return {"type": "websocket.disconnect", "code": code, "reason": reason}


def make_websocket(*incoming: Message, **scope: Any) -> tuple[WebSocket, FakeServer]:
    """A WebSocket in state CONNECTING whose server will deliver *incoming*."""
    server = FakeServer(*incoming)
    full_scope: dict[str, Any] = {"type": "websocket", "path": "/ws/test/", **scope}
    return WebSocket(full_scope, server.receive, server.send), server


async def accepted_websocket(*incoming: Message, **scope: Any) -> tuple[WebSocket, FakeServer]:
    """A WebSocket already accepted; the accept message is not kept in ``server.sent``."""
    websocket, server = make_websocket(*incoming, **scope)
    await websocket.accept()
    server.sent.clear()
    return websocket, server


# The handshake ---------------------------------------------------------------


async def test_accept_sends_websocket_accept_and_connects() -> None:
    websocket, server = make_websocket()
    assert websocket.state is WebSocketState.CONNECTING
    await websocket.accept()
    assert server.sent == [{"type": "websocket.accept", "subprotocol": None}]
    assert websocket.state is WebSocketState.CONNECTED
    assert websocket.accepted_subprotocol is None


async def test_accept_can_choose_one_of_the_offered_subprotocols() -> None:
    websocket, server = make_websocket(subprotocols=["chat.v2", "chat.v1"])
    await websocket.accept(subprotocol="chat.v1")
    assert server.sent == [{"type": "websocket.accept", "subprotocol": "chat.v1"}]
    assert websocket.accepted_subprotocol == "chat.v1"


async def test_accept_refuses_a_subprotocol_the_client_did_not_offer_naming_both() -> None:
    websocket, server = make_websocket(subprotocols=["chat.v1"])
    with pytest.raises(ValueError, match=r"'chat\.v3'.*\['chat\.v1'\]"):
        await websocket.accept(subprotocol="chat.v3")
    assert server.sent == []
    assert websocket.state is WebSocketState.CONNECTING


async def test_accept_refuses_any_subprotocol_when_the_client_offered_none() -> None:
    websocket, server = make_websocket()
    with pytest.raises(ValueError, match=r"'chat'.*\[\]"):
        await websocket.accept(subprotocol="chat")
    assert server.sent == []


async def test_accept_headers_given_as_a_dict_are_sent_as_lowercase_bytes() -> None:
    websocket, server = make_websocket()
    await websocket.accept(headers={"X-Seen": "yes", "Set-Cookie": "a=1"})
    assert server.sent[0]["headers"] == [(b"x-seen", b"yes"), (b"set-cookie", b"a=1")]


async def test_accept_headers_given_as_tuples_may_be_str_or_bytes() -> None:
    websocket, server = make_websocket()
    await websocket.accept(headers=[("X-One", "1"), (b"X-Two", b"2"), ("x-three", b"3")])
    assert server.sent[0]["headers"] == [(b"x-one", b"1"), (b"x-two", b"2"), (b"x-three", b"3")]


async def test_accept_headers_may_repeat_a_name() -> None:
    websocket, server = make_websocket()
    await websocket.accept(headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    assert server.sent[0]["headers"] == [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]


async def test_accepting_twice_is_a_runtime_error_naming_expected_and_actual_state() -> None:
    websocket, server = await accepted_websocket()
    with pytest.raises(
        RuntimeError, match="expected state CONNECTING, but the connection is CONNECTED"
    ):
        await websocket.accept()
    assert server.sent == []


async def test_accepting_after_close_is_a_runtime_error() -> None:
    websocket, _server = make_websocket()
    await websocket.close()
    with pytest.raises(RuntimeError, match="but the connection is DISCONNECTED"):
        await websocket.accept()


# Nothing flows before accept() --------------------------------------------------

SENDS: dict[str, Callable[[WebSocket], Awaitable[None]]] = {
    "send_text": lambda websocket: websocket.send_text("hello"),
    "send_bytes": lambda websocket: websocket.send_bytes(b"hello"),
    "send_json": lambda websocket: websocket.send_json({"hello": 1}),
}


@pytest.mark.parametrize("send", SENDS.values(), ids=SENDS.keys())
async def test_sending_before_accept_is_a_runtime_error_saying_to_call_accept(
    send: Callable[[WebSocket], Awaitable[None]],
) -> None:
    websocket, server = make_websocket()
    with pytest.raises(
        RuntimeError,
        match=r"expected state CONNECTED, but the connection is CONNECTING; call accept\(\)",
    ):
        await send(websocket)
    assert server.sent == []


async def test_receiving_before_accept_is_a_runtime_error() -> None:
    websocket, server = make_websocket(text("too early"))
    with pytest.raises(RuntimeError, match=r"Cannot receive: .*call accept\(\) first"):
        await websocket.receive()
    assert server.incoming == [text("too early")]


# Sending ---------------------------------------------------------------------


async def test_send_text_sends_a_text_message() -> None:
    websocket, server = await accepted_websocket()
    await websocket.send_text("héllo")
    assert server.sent == [{"type": "websocket.send", "text": "héllo"}]


async def test_send_bytes_sends_a_binary_message() -> None:
    websocket, server = await accepted_websocket()
    await websocket.send_bytes(b"\x00\xff")
    assert server.sent == [{"type": "websocket.send", "bytes": b"\x00\xff"}]


async def test_send_json_sends_compact_json_as_text() -> None:
    websocket, server = await accepted_websocket()
    await websocket.send_json({"count": 1, "items": [1, 2]})
    assert server.sent == [{"type": "websocket.send", "text": '{"count":1,"items":[1,2]}'}]


async def test_send_json_encodes_datetimes_decimals_uuids_and_lazy_strings() -> None:
    websocket, server = await accepted_websocket()
    await websocket.send_json(
        {
            "when": datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone.utc),
            "day": datetime.date(2024, 5, 6),
            "price": Decimal("1.10"),
            "id": uuid.UUID(int=1),
            "label": gettext_lazy("Hello"),
        }
    )
    assert server.sent[0]["text"] == (
        '{"when":"2024-05-06T07:08:09.123Z","day":"2024-05-06","price":"1.10",'
        '"id":"00000000-0000-0000-0000-000000000001","label":"Hello"}'
    )


async def test_send_json_in_binary_mode_sends_a_binary_message() -> None:
    websocket, server = await accepted_websocket()
    await websocket.send_json({"count": 1}, mode="binary")
    assert server.sent == [{"type": "websocket.send", "bytes": b'{"count":1}'}]


async def test_send_json_with_an_unknown_mode_is_a_value_error() -> None:
    websocket, server = await accepted_websocket()
    with pytest.raises(ValueError, match='mode must be "text" or "binary", not \'yaml\''):
        await websocket.send_json({"count": 1}, mode="yaml")  # type: ignore[arg-type]
    assert server.sent == []


async def test_send_json_of_something_json_cannot_encode_is_a_type_error() -> None:
    websocket, server = await accepted_websocket()
    with pytest.raises(TypeError):
        await websocket.send_json({"set": {1, 2}})
    assert server.sent == []


# Receiving -------------------------------------------------------------------


async def test_receive_returns_a_text_message_as_str() -> None:
    websocket, _server = await accepted_websocket(text("hello"))
    assert await websocket.receive() == "hello"


async def test_receive_returns_a_binary_message_as_bytes() -> None:
    websocket, _server = await accepted_websocket(binary(b"\x00\x01"))
    assert await websocket.receive() == b"\x00\x01"


async def test_receive_returns_an_empty_text_message_as_an_empty_str() -> None:
    websocket, _server = await accepted_websocket(text(""))
    assert await websocket.receive() == ""


async def test_receive_text_returns_a_text_message() -> None:
    websocket, _server = await accepted_websocket(text("hello"))
    assert await websocket.receive_text() == "hello"


async def test_receive_bytes_returns_a_binary_message() -> None:
    websocket, _server = await accepted_websocket(binary(b"hello"))
    assert await websocket.receive_bytes() == b"hello"


async def test_receive_text_on_a_binary_message_closes_with_1003() -> None:
    websocket, _server = await accepted_websocket(binary(b"hello"))
    with pytest.raises(WebSocketException) as raised:
        await websocket.receive_text()
    assert raised.value.code == 1003
    assert raised.value.reason == "Expected a text message, got a binary one."


async def test_receive_bytes_on_a_text_message_closes_with_1003() -> None:
    websocket, _server = await accepted_websocket(text("hello"))
    with pytest.raises(WebSocketException) as raised:
        await websocket.receive_bytes()
    assert raised.value.code == 1003
    assert raised.value.reason == "Expected a binary message, got a text one."


async def test_receive_json_parses_a_text_message() -> None:
    websocket, _server = await accepted_websocket(text('{"add": [1, 2.5, null]}'))
    assert await websocket.receive_json() == {"add": [1, 2.5, None]}


async def test_receive_json_in_binary_mode_parses_a_binary_message() -> None:
    websocket, _server = await accepted_websocket(binary('{"word": "café"}'.encode()))
    assert await websocket.receive_json(mode="binary") == {"word": "café"}


async def test_receive_json_on_malformed_text_closes_with_1007() -> None:
    websocket, _server = await accepted_websocket(text("{not json"))
    with pytest.raises(WebSocketException) as raised:
        await websocket.receive_json()
    assert (raised.value.code, raised.value.reason) == (1007, "Malformed JSON.")


async def test_receive_json_in_binary_mode_on_malformed_json_closes_with_1007() -> None:
    websocket, _server = await accepted_websocket(binary(b"{not json"))
    with pytest.raises(WebSocketException) as raised:
        await websocket.receive_json(mode="binary")
    assert raised.value.code == 1007


async def test_receive_json_in_binary_mode_on_invalid_utf8_closes_with_1007() -> None:
    websocket, _server = await accepted_websocket(binary(b'"\xff\xfe"'))
    with pytest.raises(WebSocketException) as raised:
        await websocket.receive_json(mode="binary")
    assert raised.value.code == 1007


async def test_receive_json_in_text_mode_on_a_binary_message_closes_with_1003() -> None:
    websocket, _server = await accepted_websocket(binary(b'{"add": 1}'))
    with pytest.raises(WebSocketException) as raised:
        await websocket.receive_json()
    assert raised.value.code == 1003


async def test_receive_json_with_an_unknown_mode_is_a_value_error_and_reads_nothing() -> None:
    websocket, server = await accepted_websocket(text("{}"))
    with pytest.raises(ValueError, match="mode must be"):
        await websocket.receive_json(mode="yaml")  # type: ignore[arg-type]
    assert server.incoming == [text("{}")]


async def test_an_unexpected_asgi_message_type_is_a_runtime_error_naming_both() -> None:
    websocket, _server = await accepted_websocket({"type": "websocket.connect"})
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            'Expected ASGI message "websocket.receive" or "websocket.disconnect", '
            "but got 'websocket.connect'"
        ),
    ):
        await websocket.receive()


# Disconnection ---------------------------------------------------------------


async def test_a_client_disconnect_raises_websocket_disconnect_with_its_code_and_reason() -> None:
    websocket, _server = await accepted_websocket(disconnect(1001, "going away"))
    with pytest.raises(WebSocketDisconnect) as raised:
        await websocket.receive()
    assert (raised.value.code, raised.value.reason) == (1001, "going away")
    assert websocket.state is WebSocketState.DISCONNECTED
    assert (websocket.close_code, websocket.close_reason) == (1001, "going away")


async def test_a_disconnect_with_a_null_reason_has_an_empty_reason() -> None:
    websocket, _server = await accepted_websocket(disconnect(1001, None))
    with pytest.raises(WebSocketDisconnect) as raised:
        await websocket.receive()
    assert raised.value.reason == ""


async def test_receive_after_a_disconnect_raises_websocket_disconnect_again() -> None:
    websocket, server = await accepted_websocket(disconnect(4002, "kicked"))
    with pytest.raises(WebSocketDisconnect):
        await websocket.receive()
    with pytest.raises(WebSocketDisconnect) as again:
        await websocket.receive()
    assert (again.value.code, again.value.reason) == (4002, "kicked")
    assert server.incoming == []  # the second call did not ask the server


async def test_receive_after_the_application_closed_raises_websocket_disconnect() -> None:
    websocket, _server = await accepted_websocket()
    await websocket.close(4000, "done")
    with pytest.raises(WebSocketDisconnect) as raised:
        await websocket.receive()
    assert (raised.value.code, raised.value.reason) == (4000, "done")


async def test_sending_after_a_disconnect_is_a_runtime_error() -> None:
    websocket, server = await accepted_websocket(disconnect())
    with pytest.raises(WebSocketDisconnect):
        await websocket.receive()
    with pytest.raises(RuntimeError, match="but the connection is DISCONNECTED"):
        await websocket.send_text("anyone there?")
    assert server.sent == []


def test_websocket_disconnect_describes_itself_with_code_and_reason() -> None:
    assert str(WebSocketDisconnect(1001, "bye")) == "websocket closed with code 1001: bye"
    assert str(WebSocketDisconnect()) == "websocket closed with code 1000"


async def test_iter_text_yields_each_message_and_ends_on_disconnect() -> None:
    websocket, _server = await accepted_websocket(text("a"), text("b"), disconnect())
    assert [message async for message in websocket.iter_text()] == ["a", "b"]
    assert websocket.state is WebSocketState.DISCONNECTED


async def test_iter_bytes_yields_each_message_and_ends_on_disconnect() -> None:
    websocket, _server = await accepted_websocket(binary(b"a"), binary(b"b"), disconnect())
    assert [message async for message in websocket.iter_bytes()] == [b"a", b"b"]


async def test_iter_json_yields_each_message_and_ends_on_disconnect() -> None:
    websocket, _server = await accepted_websocket(text("1"), text('{"a": 2}'), disconnect())
    assert [message async for message in websocket.iter_json()] == [1, {"a": 2}]


async def test_json_null_is_a_message_not_the_end_of_the_connection() -> None:
    websocket, _server = await accepted_websocket(
        text("null"), text("null"), text("1"), disconnect()
    )
    assert await websocket.receive_json() is None
    assert [message async for message in websocket.iter_json()] == [None, 1]


async def test_iter_json_with_an_unknown_mode_is_a_value_error_before_reading() -> None:
    websocket, server = await accepted_websocket(text("{}"))
    with pytest.raises(ValueError, match="mode must be"):
        websocket.iter_json(mode="yaml")  # type: ignore[arg-type]
    assert server.incoming == [text("{}")]


async def test_iter_json_stops_with_1003_on_a_message_of_the_other_kind() -> None:
    websocket, _server = await accepted_websocket(text("[1]"))
    with pytest.raises(WebSocketException) as raised:
        async for _message in websocket.iter_json(mode="binary"):
            pass
    assert (raised.value.code, raised.value.reason) == (
        1003,
        "Expected a binary message, got a text one.",
    )


async def test_iterating_again_after_the_end_yields_nothing() -> None:
    websocket, _server = await accepted_websocket(text("a"), disconnect())
    assert [message async for message in websocket.iter_text()] == ["a"]
    assert [message async for message in websocket.iter_text()] == []


async def test_iter_json_in_binary_mode_reads_binary_messages() -> None:
    websocket, _server = await accepted_websocket(binary(b"[1]"), disconnect())
    assert [message async for message in websocket.iter_json(mode="binary")] == [[1]]


async def test_iter_text_stops_with_1003_on_a_binary_message() -> None:
    websocket, _server = await accepted_websocket(text("a"), binary(b"b"))
    received: list[str] = []
    with pytest.raises(WebSocketException) as raised:
        async for message in websocket.iter_text():
            received.append(message)
    assert received == ["a"]
    assert raised.value.code == 1003


# Closing ---------------------------------------------------------------------


async def test_close_before_accept_refuses_the_handshake() -> None:
    websocket, server = make_websocket()
    await websocket.close()
    assert server.sent == [{"type": "websocket.close", "code": 1000, "reason": ""}]
    assert websocket.state is WebSocketState.DISCONNECTED


async def test_close_after_accept_sends_the_code_and_reason() -> None:
    websocket, server = await accepted_websocket()
    await websocket.close(4000, "see you")
    assert server.sent == [{"type": "websocket.close", "code": 4000, "reason": "see you"}]
    assert websocket.state is WebSocketState.DISCONNECTED
    assert (websocket.close_code, websocket.close_reason) == (4000, "see you")


async def test_closing_twice_sends_one_close_message() -> None:
    websocket, server = await accepted_websocket()
    await websocket.close(4000)
    await websocket.close(4001)
    assert server.sent == [{"type": "websocket.close", "code": 4000, "reason": ""}]
    assert websocket.close_code == 4000


async def test_close_after_the_client_left_sends_nothing() -> None:
    websocket, server = await accepted_websocket(disconnect(1001))
    with pytest.raises(WebSocketDisconnect):
        await websocket.receive()
    await websocket.close()
    assert server.sent == []
    assert websocket.close_code == 1001


@pytest.mark.parametrize("code", INVALID_CLOSE_CODES)
async def test_close_rejects_codes_an_application_may_not_send(code: int) -> None:
    websocket, server = await accepted_websocket()
    with pytest.raises(ValueError, match=f"{code} is not a close code an application may send"):
        await websocket.close(code)
    assert server.sent == []
    assert websocket.state is WebSocketState.CONNECTED


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
async def test_close_sends_codes_at_the_edges_of_the_allowed_ranges(code: int) -> None:
    websocket, server = await accepted_websocket()
    await websocket.close(code)
    assert server.sent[0]["code"] == code


async def test_close_rejects_a_reason_over_123_bytes_of_utf8() -> None:
    websocket, server = await accepted_websocket()
    reason = "é" * 62  # 62 characters, 124 bytes
    with pytest.raises(ValueError, match="at most 123 bytes"):
        await websocket.close(1000, reason)
    assert server.sent == []


async def test_close_sends_a_reason_of_exactly_123_bytes() -> None:
    websocket, server = await accepted_websocket()
    reason = "é" * 61 + "a"
    await websocket.close(1000, reason)
    assert server.sent[0]["reason"] == reason


@pytest.mark.parametrize("code", INVALID_CLOSE_CODES)
def test_websocket_exception_rejects_the_same_codes_as_close(code: int) -> None:
    with pytest.raises(ValueError, match=f"{code} is not a close code"):
        WebSocketException(code)


def test_websocket_exception_rejects_a_reason_over_123_bytes() -> None:
    with pytest.raises(ValueError, match="at most 123 bytes"):
        WebSocketException(1008, "x" * 124)


# The client going away mid-send ------------------------------------------------


async def test_a_send_that_raises_oserror_is_a_disconnect_with_1006() -> None:
    websocket, server = await accepted_websocket()
    gone = ConnectionResetError("client gone")
    server.fail_sends_with = gone
    with pytest.raises(WebSocketDisconnect) as raised:
        await websocket.send_text("hello?")
    assert raised.value.code == 1006
    assert raised.value.__cause__ is gone
    assert websocket.state is WebSocketState.DISCONNECTED
    assert websocket.close_code == 1006


async def test_after_a_failed_send_receive_raises_websocket_disconnect_1006() -> None:
    websocket, server = await accepted_websocket(text("never read"))
    server.fail_sends_with = OSError("client gone")
    with pytest.raises(WebSocketDisconnect):
        await websocket.send_bytes(b"hello?")
    with pytest.raises(WebSocketDisconnect) as raised:
        await websocket.receive()
    assert raised.value.code == 1006


async def test_close_when_the_send_raises_oserror_does_not_raise() -> None:
    websocket, server = await accepted_websocket()
    server.fail_sends_with = OSError("client gone")
    await websocket.close(1001)
    assert websocket.state is WebSocketState.DISCONNECTED


# Request-like attributes -------------------------------------------------------


def test_headers_are_looked_up_case_insensitively() -> None:
    websocket, _server = make_websocket(headers=[(b"user-agent", b"pytest"), (b"Origin", b"x")])
    assert websocket.headers["User-Agent"] == "pytest"
    assert websocket.headers["USER-AGENT"] == "pytest"
    assert websocket.headers["origin"] == "x"
    assert "X-Missing" not in websocket.headers


def test_repeated_headers_are_joined_with_a_comma() -> None:
    websocket, _server = make_websocket(
        headers=[(b"x-forwarded-for", b"10.0.0.1"), (b"x-forwarded-for", b"10.0.0.2")]
    )
    assert websocket.headers["X-Forwarded-For"] == "10.0.0.1, 10.0.0.2"


def test_repeated_cookie_headers_are_joined_with_a_semicolon() -> None:
    websocket, _server = make_websocket(headers=[(b"cookie", b"a=1"), (b"cookie", b"b=2")])
    assert websocket.headers["Cookie"] == "a=1; b=2"
    assert websocket.COOKIES == {"a": "1", "b": "2"}


def test_header_values_are_decoded_as_latin1() -> None:
    websocket, _server = make_websocket(headers=[(b"x-name", "café".encode("latin-1"))])
    assert websocket.headers["x-name"] == "café"


def test_without_headers_the_mappings_are_empty() -> None:
    websocket, _server = make_websocket()
    assert dict(websocket.headers) == {}
    assert websocket.COOKIES == {}


def test_cookies_are_parsed_from_the_cookie_header() -> None:
    websocket, _server = make_websocket(headers=[(b"cookie", b"sessionid=abc; theme=dark")])
    assert websocket.COOKIES == {"sessionid": "abc", "theme": "dark"}


def test_get_is_a_query_dict_keeping_repeated_keys() -> None:
    websocket, _server = make_websocket(query_string=b"q=a&q=b&page=2")
    assert isinstance(websocket.GET, QueryDict)
    assert websocket.GET.getlist("q") == ["a", "b"]
    assert websocket.GET["page"] == "2"


def test_get_percent_decodes_keys_and_values() -> None:
    websocket, _server = make_websocket(query_string=b"name=caf%C3%A9&phrase=a+b%26c&%C3%A9=1")
    assert websocket.GET["name"] == "café"
    assert websocket.GET["phrase"] == "a b&c"
    assert websocket.GET["é"] == "1"


def test_get_with_bytes_that_are_not_utf8_does_not_crash() -> None:
    websocket, _server = make_websocket(query_string=b"raw=\xff&encoded=%FF&ok=1")
    assert websocket.GET["raw"] == "\ufffd"
    assert websocket.GET["encoded"] == "\ufffd"
    assert websocket.GET["ok"] == "1"


def test_get_without_a_query_string_is_empty() -> None:
    websocket, _server = make_websocket()
    assert dict(websocket.GET) == {}


def test_client_is_the_host_and_port_tuple() -> None:
    websocket, _server = make_websocket(client=["10.0.0.1", 50000])
    assert websocket.client == ("10.0.0.1", 50000)


def test_client_is_none_when_the_server_does_not_know_it() -> None:
    websocket, _server = make_websocket()
    assert websocket.client is None


def test_subprotocols_are_the_offered_list_in_order() -> None:
    websocket, _server = make_websocket(subprotocols=("chat.v2", "chat.v1"))
    assert websocket.subprotocols == ["chat.v2", "chat.v1"]


def test_subprotocols_are_empty_when_none_were_offered() -> None:
    websocket, _server = make_websocket()
    assert websocket.subprotocols == []


def test_url_arguments_are_empty_without_a_resolver_match() -> None:
    websocket, _server = make_websocket()
    assert websocket.resolver_match is None
    assert websocket.url_args == ()
    assert websocket.url_kwargs == {}


def test_url_arguments_come_from_the_resolver_match() -> None:
    async def view(websocket: WebSocket) -> None:
        pass

    match = ResolverMatch(view, ("2024",), {"room": "lobby"}, url_name="room")
    server = FakeServer()
    websocket = WebSocket(
        {"type": "websocket", "path": "/ws/"}, server.receive, server.send, resolver_match=match
    )
    assert websocket.resolver_match is match
    assert websocket.url_args == ("2024",)
    assert websocket.url_kwargs == {"room": "lobby"}


def test_url_kwargs_is_a_copy() -> None:
    async def view(websocket: WebSocket) -> None:
        pass

    match = ResolverMatch(view, (), {"room": "lobby"})
    server = FakeServer()
    websocket = WebSocket(
        {"type": "websocket", "path": "/ws/"}, server.receive, server.send, resolver_match=match
    )
    websocket.url_kwargs["room"] = "changed"
    assert match.kwargs == {"room": "lobby"}


def test_path_info_defaults_to_the_path() -> None:
    websocket, _server = make_websocket(path="/ws/chat/")
    assert websocket.path == "/ws/chat/"
    assert websocket.path_info == "/ws/chat/"


def test_path_info_is_the_path_below_the_script_prefix_when_given() -> None:
    server = FakeServer()
    websocket = WebSocket(
        {"type": "websocket", "path": "/prefix/ws/chat/", "root_path": "/prefix"},
        server.receive,
        server.send,
        path_info="/ws/chat/",
    )
    assert websocket.path == "/prefix/ws/chat/"
    assert websocket.path_info == "/ws/chat/"


async def test_repr_shows_the_path_and_the_state() -> None:
    websocket, _server = make_websocket(path="/ws/chat/")
    assert repr(websocket) == "<WebSocket '/ws/chat/' CONNECTING>"
    await websocket.accept()
    assert repr(websocket) == "<WebSocket '/ws/chat/' CONNECTED>"
    await websocket.close()
    assert repr(websocket) == "<WebSocket '/ws/chat/' DISCONNECTED>"
