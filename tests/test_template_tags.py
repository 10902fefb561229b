"""``{% websocket_url %}`` gives a page the absolute URL of a websocket route.

The scheme and host are the request's, as the browser reached the site; the
path is the route's in WEBSOCKET_URLCONF (tests/ws_urls.py), script prefix
included; the arguments are those of ``{% url %}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.exceptions import DisallowedHost, ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.template import Context, Template, TemplateSyntaxError, engines
from django.test import RequestFactory, override_settings
from django.urls import NoReverseMatch, include, path, resolve

from django_asgi_ws.asgi import get_asgi_application
from django_asgi_ws.test import WebSocketClient
from tests import ws_views
from tests.asgi_http import asgi_get

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]


@pytest.fixture(autouse=True)
def django_templates() -> Iterator[None]:
    with override_settings(TEMPLATES=TEMPLATES):
        yield


def render(source: str, request: HttpRequest | None, **context: Any) -> str:
    template = engines["django"].from_string("{% load django_asgi_ws %}" + source)
    return template.render(context, request)


def get(path: str = "/chat/", **extra: Any) -> HttpRequest:
    return RequestFactory().get(path, **extra)


# This module is also the ROOT_URLCONF of the tests that serve a page.


def page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(render('{% websocket_url "ping" %}', request))


urlpatterns = [
    path("page/", page),
    path("staff/", include(([path("", page, name="page")], "staff-pages"), namespace="staff")),
]


# Scheme and host ---------------------------------------------------------------


def test_a_page_served_over_http_gets_a_ws_url() -> None:
    assert render('{% websocket_url "ping" %}', get()) == "ws://testserver/ws/ping/"


def test_a_page_served_over_https_gets_a_wss_url() -> None:
    assert render('{% websocket_url "ping" %}', get(secure=True)) == "wss://testserver/ws/ping/"


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_behind_a_tls_proxy_secure_proxy_ssl_header_makes_it_wss() -> None:
    request = get(headers={"Host": "testserver", "X-Forwarded-Proto": "https"})
    assert render('{% websocket_url "ping" %}', request) == "wss://testserver/ws/ping/"


def test_x_forwarded_proto_is_ignored_without_secure_proxy_ssl_header() -> None:
    request = get(headers={"X-Forwarded-Proto": "https"})
    assert render('{% websocket_url "ping" %}', request) == "ws://testserver/ws/ping/"


@override_settings(USE_X_FORWARDED_HOST=True, ALLOWED_HOSTS=["chat.example.com"])
def test_use_x_forwarded_host_takes_the_host_the_proxy_received() -> None:
    request = get(headers={"Host": "127.0.0.1:8000", "X-Forwarded-Host": "chat.example.com"})
    assert render('{% websocket_url "ping" %}', request) == "ws://chat.example.com/ws/ping/"


def test_x_forwarded_host_is_ignored_without_use_x_forwarded_host() -> None:
    request = get(headers={"Host": "localhost:8000", "X-Forwarded-Host": "chat.example.com"})
    assert render('{% websocket_url "ping" %}', request) == "ws://localhost:8000/ws/ping/"


def test_a_host_outside_allowed_hosts_is_refused_as_by_get_host() -> None:
    request = get(headers={"Host": "evil.example.com"})
    with pytest.raises(DisallowedHost):
        render('{% websocket_url "ping" %}', request)


# Arguments -----------------------------------------------------------------------


def test_positional_arguments() -> None:
    assert render('{% websocket_url "year" "1999" %}', get()) == "ws://testserver/ws/year/1999/"


def test_keyword_arguments_from_the_context() -> None:
    html = render('{% websocket_url "describe" number=n %}', get(), n=3)
    assert html == "ws://testserver/ws/describe/3/"


def test_the_route_name_may_be_a_variable() -> None:
    html = render("{% websocket_url name %}", get(), name="ping")
    assert html == "ws://testserver/ws/ping/"


def test_a_namespace_of_an_include() -> None:
    room = SimpleNamespace(slug="lobby")
    html = render('{% websocket_url "chat:room" room=room.slug %}', get(), room=room)
    assert html == "ws://testserver/ws/chat/lobby/"


def test_current_app_picks_the_instance_of_an_application_namespace(ws_routes: Any) -> None:
    rooms = ([path("<slug:room>/", ws_views.ping, name="room")], "rooms")
    ws_routes(
        [
            path("ws/rooms/", include(rooms)),  # the default instance: namespace "rooms"
            path("ws/staff/", include(rooms, namespace="staff")),
        ]
    )
    request = get()
    assert render('{% websocket_url "rooms:room" "a" %}', request) == "ws://testserver/ws/rooms/a/"
    request.current_app = "staff"  # type: ignore[attr-defined]
    assert render('{% websocket_url "rooms:room" "a" %}', request) == "ws://testserver/ws/staff/a/"


def test_the_namespace_of_the_pages_own_route_picks_the_instance_too(ws_routes: Any) -> None:
    rooms = ([path("<slug:room>/", ws_views.ping, name="room")], "rooms")
    ws_routes(
        [
            path("ws/rooms/", include(rooms)),
            path("ws/staff/", include(rooms, namespace="staff")),
        ]
    )
    request = get()
    request.resolver_match = resolve("/staff/", urlconf=__name__)
    assert request.resolver_match.namespace == "staff"
    assert render('{% websocket_url "rooms:room" "a" %}', request) == "ws://testserver/ws/staff/a/"


def test_a_tag_without_a_route_name_is_a_syntax_error() -> None:
    with pytest.raises(TemplateSyntaxError, match="'websocket_url' takes at least one argument"):
        render("{% websocket_url %}", get())


# "as" ----------------------------------------------------------------------------


def test_as_sets_a_variable_and_writes_nothing() -> None:
    html = render('{% websocket_url "ping" as url %}[{{ url }}]', get())
    assert html == "[ws://testserver/ws/ping/]"


def test_as_sets_an_empty_string_for_an_unknown_route_as_url_does() -> None:
    html = render('{% websocket_url "nowhere" as url %}[{{ url|default:"none" }}]', get())
    assert html == "[none]"


# Errors ---------------------------------------------------------------------------


def test_an_unknown_route_raises_no_reverse_match_naming_websocket_urlconf() -> None:
    with pytest.raises(NoReverseMatch, match=r"WEBSOCKET_URLCONF \('tests\.ws_urls'\)"):
        render('{% websocket_url "nowhere" %}', get())


def test_a_route_of_root_urlconf_is_not_a_websocket_route() -> None:
    with pytest.raises(NoReverseMatch, match=r"Reverse for 'hello' not found"):
        render('{% websocket_url "hello" %}', get())


def test_without_the_request_the_error_names_the_context_processor() -> None:
    processor = "django.template.context_processors.request"
    with pytest.raises(ImproperlyConfigured, match=processor):
        render('{% websocket_url "ping" %}', None)
    with pytest.raises(ImproperlyConfigured, match=processor):
        render('{% websocket_url "ping" as url %}', None)


def test_the_request_as_a_context_variable_is_enough() -> None:
    template = Template('{% load django_asgi_ws %}{% websocket_url "ping" %}')
    assert template.render(Context({"request": get()})) == "ws://testserver/ws/ping/"


# Escaping --------------------------------------------------------------------------


def test_the_url_is_escaped_for_html_as_url_escapes_it(ws_routes: Any) -> None:
    ws_routes([path("ws/search/<str:terms>/", ws_views.ping, name="search")])
    # reverse() percent-encodes "<" but leaves "&" and "'", which HTML must escape.
    source = """{% websocket_url "search" terms=terms %}"""
    assert render(source, get(), terms="a&b'<c") == "ws://testserver/ws/search/a&amp;b&#x27;%3Cc/"
    unescaped = "{% autoescape off %}" + source + "{% endautoescape %}"
    assert render(unescaped, get(), terms="a&b'<c") == "ws://testserver/ws/search/a&b'%3Cc/"
    as_variable = '{% websocket_url "search" terms=terms as url %}{{ url }}'
    assert render(as_variable, get(), terms="a&b") == "ws://testserver/ws/search/a&amp;b/"


# A site served under a script prefix --------------------------------------------------


async def page_through_the_asgi_application(path: str, root_path: str = "") -> str:
    """The page, answered by the project's ASGI application as a server calls it."""
    status, body = await asgi_get(get_asgi_application(), path, root_path=root_path)
    assert status == 200
    return body.decode()


async def assert_the_websocket_answers(path: str, root_path: str = "") -> None:
    """A connection to *path*, as a server gives it with *root_path*, is served."""
    async with WebSocketClient().connect(path, root_path=root_path) as ws:
        await ws.send_text("ping")
        assert await ws.receive_text() == "pong!"


@override_settings(ROOT_URLCONF=__name__)
async def test_under_a_root_path_the_url_carries_the_prefix() -> None:
    url = await page_through_the_asgi_application("/site/page/", root_path="/site")
    assert url == "ws://testserver/site/ws/ping/"
    await assert_the_websocket_answers("/ws/ping/", root_path="/site")


@override_settings(ROOT_URLCONF=__name__, FORCE_SCRIPT_NAME="/forced")
async def test_force_script_name_is_the_prefix_of_the_url() -> None:
    # Requested without the prefix: Django before 5.0 does not strip FORCE_SCRIPT_NAME
    # from an ASGI request's path, and later versions strip it only where it is.
    url = await page_through_the_asgi_application("/page/")
    assert url == "ws://testserver/forced/ws/ping/"
    await assert_the_websocket_answers("/forced/ws/ping/")
