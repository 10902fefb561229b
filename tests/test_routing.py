"""Websocket paths are resolved by Django's resolver against WEBSOCKET_URLCONF."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.urls import NoReverseMatch

from django_asgi_ws.routing import get_path_info, has_pure_routes, resolve, reverse
from django_asgi_ws.test import WebSocketClient, WebSocketRefused


async def describe(client: WebSocketClient, path: str, **kwargs: Any) -> dict[str, Any]:
    async with client.connect(path, **kwargs) as ws:
        result: dict[str, Any] = await ws.receive_json()
        return result


async def test_path_converters_become_keyword_arguments(client: WebSocketClient) -> None:
    seen = await describe(client, "/ws/describe/42/")
    assert seen["kwargs"] == {"number": 42}
    assert seen["url_kwargs"] == {"number": 42}
    assert seen["url_name"] == "describe"


async def test_a_converter_that_does_not_match_is_an_unknown_path(
    client: WebSocketClient,
) -> None:
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/describe/not-a-number/")
    assert refused.value.status_code == 404


async def test_re_path_groups_become_positional_arguments(client: WebSocketClient) -> None:
    async with client.connect("/ws/year/2026/") as ws:
        assert await ws.receive_json() == {"year": "2026", "args": ["2026"]}


async def test_include_with_a_namespace(client: WebSocketClient) -> None:
    seen = await describe(client, "/ws/chat/lobby/")
    assert seen["kwargs"] == {"room": "lobby"}
    assert seen["namespace"] == "chat"


async def test_non_ascii_paths_are_resolved_decoded(client: WebSocketClient) -> None:
    seen = await describe(client, "/ws/caf%C3%A9/")
    assert seen["path"] == "/ws/café/"
    assert seen["url_name"] == "cafe"


async def test_root_path_is_stripped_before_resolving(client: WebSocketClient) -> None:
    seen = await describe(client, "/ws/describe/7/", root_path="/prefix")
    assert seen["path"] == "/prefix/ws/describe/7/"
    assert seen["path_info"] == "/ws/describe/7/"
    # reverse() inside the view honours the script prefix, as in an HTTP view.
    assert seen["reversed"] == "/prefix/ws/rooms/lobby/"
    assert seen["http_url"] == "/prefix/hello/"


@override_settings(FORCE_SCRIPT_NAME="/forced")
async def test_force_script_name_wins_over_root_path(client: WebSocketClient) -> None:
    seen = await describe(client, "/forced/ws/describe/7/")
    assert seen["path_info"] == "/ws/describe/7/"
    assert seen["http_url"] == "/forced/hello/"


async def test_query_string_is_not_part_of_the_path(client: WebSocketClient) -> None:
    seen = await describe(client, "/ws/describe/1/?q=a&q=b")
    assert seen["query"] == ["a", "b"]
    assert seen["path"] == "/ws/describe/1/"


def test_reverse_uses_the_websocket_urlconf() -> None:
    assert reverse("ping") == "/ws/ping/"
    assert reverse("describe", kwargs={"number": 3}) == "/ws/describe/3/"
    assert reverse("chat:room", kwargs={"room": "news"}) == "/ws/chat/news/"
    assert reverse("year", args=["1999"]) == "/ws/year/1999/"
    with pytest.raises(NoReverseMatch):
        reverse("hello")  # an HTTP route, not a websocket one


@override_settings(WEBSOCKET_URLCONF=None)
def test_reverse_without_a_websocket_urlconf_says_what_to_set() -> None:
    with pytest.raises(ImproperlyConfigured, match="WEBSOCKET_URLCONF must be"):
        reverse("ping")


def test_resolve_returns_none_for_an_unknown_path() -> None:
    assert resolve("/ws/nowhere/") is None
    match = resolve("/ws/ping/")
    assert match is not None and match.url_name == "ping"


@pytest.mark.parametrize(
    ("path", "script_name", "path_info"),
    [
        ("/ws/a/", "", "/ws/a/"),
        ("/app/ws/a/", "/app", "/ws/a/"),
        ("/app", "/app", "/"),
        ("/other/ws/a/", "/app", "/other/ws/a/"),
    ],
)
def test_path_info_is_the_decoded_path_below_the_script_name(
    path: str, script_name: str, path_info: str
) -> None:
    scope = {"path": path, "raw_path": b"/ignored/"}
    assert get_path_info(scope, script_name) == path_info


@override_settings(WEBSOCKET_URLCONF=None)
async def test_a_missing_urlconf_refuses_with_500_and_logs_why(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(WebSocketRefused) as refused:
        await client.connect("/ws/ping/")
    assert refused.value.status_code == 500
    assert "WEBSOCKET_URLCONF must be" in caplog.text


def test_each_resolve_returns_a_match_of_its_own() -> None:
    first = resolve("/ws/describe/5/")
    assert first is not None
    first.kwargs["number"] = 6
    first.args = ("changed",)
    again = resolve("/ws/describe/5/")
    assert again is not None
    assert again.kwargs == {"number": 5}
    assert again.args == ()
    assert again.url_name == "describe" and again.func is first.func


def test_urlconfs_with_built_in_converters_only_are_cached() -> None:
    assert has_pure_routes("tests.ws_urls")
    assert not has_pure_routes("tests.ws_urls_custom_converter")


@override_settings(WEBSOCKET_URLCONF="tests.ws_urls_custom_converter")
def test_a_custom_converter_is_asked_on_every_resolve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.ws_urls_custom_converter import OpenRoomConverter

    monkeypatch.setattr(OpenRoomConverter, "open_rooms", {"lobby"})
    monkeypatch.setattr(OpenRoomConverter, "calls", 0)
    assert resolve("/ws/open/lobby/") is not None
    assert resolve("/ws/open/lobby/") is not None
    assert OpenRoomConverter.calls == 2
    OpenRoomConverter.open_rooms.discard("lobby")
    assert resolve("/ws/open/lobby/") is None  # not a stale answer from a cache


def test_routes_are_cached_per_urlconf() -> None:
    assert resolve("/ws/describe/5/") is not None
    with override_settings(WEBSOCKET_URLCONF="tests.ws_urls_custom_converter"):
        assert resolve("/ws/describe/5/") is None
    assert resolve("/ws/describe/5/") is not None


def test_the_route_cache_stays_bounded_whatever_paths_clients_choose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django_asgi_ws import routing

    monkeypatch.setattr(routing, "MAX_CACHED_PATHS", 3)
    for number in range(10):
        assert resolve(f"/ws/describe/{number}/") is not None
        assert resolve(f"/ws/unknown-{number}/") is None
    assert len(routing._cache.matches) <= 3


@pytest.mark.parametrize(
    "attribute", ["kwargs", "captured_kwargs", "extra_kwargs", "tried", "app_names", "namespaces"]
)
def test_a_view_changing_its_cached_match_does_not_change_the_next_connections(
    attribute: str,
) -> None:
    first = resolve("/ws/describe/5/")
    assert first is not None
    original = getattr(first, attribute)
    if isinstance(original, dict):
        original["changed"] = "by the first connection"
    else:
        original.append("changed by the first connection")
    second = resolve("/ws/describe/5/")
    assert second is not None
    assert "changed" not in getattr(second, attribute)
    assert "changed by the first connection" not in getattr(second, attribute)
