from __future__ import annotations

import os
import tempfile

SECRET_KEY = "django-insecure-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_asgi_ws",
    "tests.testapp",
]
# A file, not ":memory:": Django never closes an in-memory SQLite connection,
# so tests could not tell a closed connection from a leaked one.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(tempfile.gettempdir(), f"django_asgi_ws_{os.getpid()}.sqlite3"),
        "TEST": {
            "NAME": os.path.join(
                tempfile.gettempdir(), f"test_django_asgi_ws_{os.getpid()}.sqlite3"
            )
        },
    },
    # The real PostgreSQL of tests/test_db_postgres.py; only tests that ask for
    # databases=["pg"] connect to it (pytest-django sets up no other test database).
    # The test database name carries the pid so that concurrent runs never share it.
    "pg": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "PASSWORD": os.environ.get("PGPASSWORD", ""),
        "NAME": os.environ.get("DJANGO_ASGI_WS_PG_NAME", "django_asgi_ws"),
        # No DEPENDENCIES: its test database is created without the SQLite one.
        "TEST": {"NAME": f"test_django_asgi_ws_{os.getpid()}", "DEPENDENCIES": []},
    },
}
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.urls"
WEBSOCKET_URLCONF = "tests.ws_urls"
USE_TZ = True
# Django 6.1 sends mail through MAILERS (earlier versions ignore the setting);
# the test runner replaces each backend with the in-memory one.
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend"}}
# Fast hashing: the tests create users, they do not test password storage.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_asgi_ws": {"handlers": ["console"], "level": "INFO"}},
}
