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
    }
}
ROOT_URLCONF = "tests.urls"
WEBSOCKET_URLCONF = "tests.ws_urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_asgi_ws": {"handlers": ["console"], "level": "INFO"}},
}
