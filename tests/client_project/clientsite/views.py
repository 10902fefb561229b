from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpRequest, JsonResponse

from django_asgi_ws.tickets import issue_ticket


def ticket(request: HttpRequest, username: str) -> JsonResponse:
    """A single-use ticket for *username*: this test site's shortcut past logging in."""
    user = get_user_model().objects.get(username=username)
    return JsonResponse({"ticket": issue_ticket(user, single_use=True)})
