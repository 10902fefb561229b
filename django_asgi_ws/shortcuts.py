"""The absolute URL of a websocket route, for the pages that open it.

A page's script needs ``ws://`` or ``wss://``, the host the browser reached and
the path, script prefix included: :func:`websocket_url` takes the first two from
the request, as Django's ``request.build_absolute_uri()`` does, and the path
from :func:`django_asgi_ws.routing.reverse`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.urls import NoReverseMatch

from django_asgi_ws.routing import get_urlconf, reverse

if TYPE_CHECKING:
    from django.http import HttpRequest

__all__ = ["websocket_url"]


def websocket_url(
    request: HttpRequest, viewname: str | Callable[..., Any], /, *args: Any, **kwargs: Any
) -> str:
    """The absolute URL of the websocket route *viewname*, for the client of *request*.

    ``wss://`` when ``request.is_secure()``, else ``ws://``; the host of
    ``request.get_host()``; the path of :func:`~django_asgi_ws.routing.reverse`,
    with the script prefix of the request being served. *args* or *kwargs* are
    the route's arguments. Raises ``NoReverseMatch`` when no route of
    ``WEBSOCKET_URLCONF`` has that name and those arguments.
    """
    try:
        path = reverse(viewname, args=args, kwargs=kwargs, current_app=_current_app(request))
    except NoReverseMatch as error:
        raise NoReverseMatch(
            f"{error} Websocket routes are looked up in WEBSOCKET_URLCONF ({get_urlconf()!r}); "
            "the {% url %} tag and django.urls.reverse() look in ROOT_URLCONF."
        ) from error
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}{path}"


def _current_app(request: HttpRequest) -> str | None:
    """The application namespace instance to prefer, chosen as ``{% url %}`` chooses it.

    ``request.current_app`` when a view set it, else the namespace of the
    route that served the request: it picks among the instances of an
    application namespace included more than once, and changes nothing else.
    """
    try:
        current_app: str | None = request.current_app
    except AttributeError:
        match = request.resolver_match
        return None if match is None else match.namespace
    return current_app
