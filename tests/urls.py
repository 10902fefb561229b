from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from django_asgi_ws.tickets import TicketView
from tests.blocking_views import block_http
from tests.broadcast_views import announce


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("hello over http")


def whoami(request: HttpRequest) -> HttpResponse:
    """What an ordinary Django view sees of the browser's session."""
    return HttpResponse(f"{request.user.get_username() or 'anonymous'} {request.session.items()}")


urlpatterns = [
    path("hello/", hello, name="hello"),
    path("whoami/", whoami, name="whoami"),
    path("announce/", announce, name="announce"),
    path("block/", block_http),
    path("ws-ticket/", TicketView.as_view()),
    path("ws-ticket/single-use/", TicketView.as_view(single_use=True)),
]
