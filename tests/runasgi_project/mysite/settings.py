from __future__ import annotations

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-insecure-runasgi-tests-only"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "django_asgi_ws",
    "polls",
]

ROOT_URLCONF = "mysite.urls"
WEBSOCKET_URLCONF = "mysite.ws_urls"
WEBSOCKET_MAX_MESSAGE_SIZE = 1024
# Frequent keepalive pings, so a test can see them on both servers.
WEBSOCKET_PING_INTERVAL = 1
WEBSOCKET_PING_TIMEOUT = 5

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"},
}
STATIC_URL = "static/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
