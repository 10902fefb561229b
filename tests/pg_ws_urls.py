"""WEBSOCKET_URLCONF of tests.settings_postgres, and of tests/test_db_postgres.py."""

from __future__ import annotations

from django.urls import path

from tests import pg_ws_views

urlpatterns = [
    path("ws/pg/notes/", pg_ws_views.notes, name="pg-notes"),
    path("ws/pg/notes-view/", pg_ws_views.NotesView.as_view(), name="pg-notes-view"),
]
