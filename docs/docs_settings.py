"""The Django settings the documentation build runs with.

autodoc imports the package, whose modules need configured settings (and the
app registry, for ``django.contrib.auth``). Nothing is served or queried.
"""

from __future__ import annotations

SECRET_KEY = "django-insecure-docs-only"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_asgi_ws",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
