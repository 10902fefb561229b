from __future__ import annotations

from django.urls import path

from . import ws_views

urlpatterns = [
    path("ws/groups/<str:groups>/", ws_views.Groups.as_view()),
    path("ws/private/", ws_views.Private.as_view()),
    path("ws/close/<int:code>/", ws_views.ClosesWith.as_view()),
    path("ws/plain/", ws_views.Plain.as_view()),
    path("ws/whoami/", ws_views.WhoAmI.as_view()),
]
