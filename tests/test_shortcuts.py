"""``websocket_url()``: the URL of ``{% websocket_url %}``, for views and Jinja2 templates."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import NoReverseMatch

from django_asgi_ws.shortcuts import websocket_url


def test_positional_and_keyword_arguments_are_the_routes() -> None:
    request = RequestFactory().get("/")
    assert websocket_url(request, "year", "1999") == "ws://testserver/ws/year/1999/"
    assert websocket_url(request, "chat:room", room="news") == "ws://testserver/ws/chat/news/"


def test_a_route_argument_may_be_called_request() -> None:
    request = RequestFactory().get("/", secure=True)
    # The request and the route name are positional only.
    url = websocket_url(request, "room", room="request")
    assert url == "wss://testserver/ws/rooms/request/"


def test_mixing_positional_and_keyword_arguments_is_refused_as_by_reverse() -> None:
    with pytest.raises(ValueError, match="Don't mix"):
        websocket_url(RequestFactory().get("/"), "room", "lobby", room="lobby")


def test_an_unknown_route_names_the_urlconf_searched() -> None:
    with pytest.raises(NoReverseMatch) as raised:
        websocket_url(RequestFactory().get("/"), "hello")
    assert str(raised.value) == (
        "Reverse for 'hello' not found. 'hello' is not a valid view function or pattern "
        "name. Websocket routes are looked up in WEBSOCKET_URLCONF ('tests.ws_urls'); the "
        "{% url %} tag and django.urls.reverse() look in ROOT_URLCONF."
    )
