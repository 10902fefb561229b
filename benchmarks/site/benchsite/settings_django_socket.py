"""django-socket as its README sets it up: the app installed, handlers in an
app's sockets.py, the asgi.py that startproject writes left as it is."""

from __future__ import annotations

from benchsite.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django_socket", "benchsite"]  # noqa: F405
