"""The asgi.py that startproject writes: django-socket serves websockets through it."""

from __future__ import annotations

import os

import gc_pauses  # noqa: F401  (times the collector when asked)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings_django_socket")

from django.core.asgi import get_asgi_application

application = get_asgi_application()
