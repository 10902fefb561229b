"""The HTTP view that gives a logged-in client a ticket for its websockets."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.views.generic.base import View

from django_asgi_ws.conf import get_settings
from django_asgi_ws.tickets.signing import issue_ticket


class TicketView(View):
    """POST: ``{"ticket": ..., "max_age": ...}`` for the logged-in user, never cached.

    An anonymous request gets 403 ``{"error": "not_authenticated"}``, any
    method but POST 405 ``{"error": "method_not_allowed"}``. CSRF protection
    applies as to any POST view: a page sends the CSRF token.
    ``TicketView.as_view(single_use=True)`` issues single-use tickets.
    """

    #: Whether the tickets issued are accepted once only.
    single_use = False
    http_method_names = ("post",)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        """Issue a ticket for ``request.user``."""
        user = getattr(request, "user", None)
        if user is None:
            raise ImproperlyConfigured(
                "TicketView needs request.user: add django.contrib.auth's "
                "AuthenticationMiddleware (or a middleware of your own that sets it) "
                "to MIDDLEWARE."
            )
        if not user.is_authenticated:
            return _json({"error": "not_authenticated"}, status=403)
        ticket = issue_ticket(user, single_use=self.single_use)
        return _json({"ticket": ticket, "max_age": get_settings().ticket_max_age})

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> JsonResponse:
        """405, as JSON, with the ``Allow`` header."""
        super().http_method_not_allowed(request, *args, **kwargs)  # logs it as Django does
        response = _json({"error": "method_not_allowed"}, status=405)
        response["Allow"] = "POST"
        return response


def _json(data: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    # A ticket is a credential: no browser or proxy may keep a copy.
    response["Cache-Control"] = "no-store"
    return response
