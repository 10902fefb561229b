"""A page that loads the client, and the websocket views it talks to.

Broadcast goes through Redis, so that what is published while the server is
down waits in the groups' histories. ``CLIENT_SITE_PREFIX`` keeps each test
run's keys apart; ``REDIS_URL`` names the server (the local one by default).
"""

from __future__ import annotations

import os

SECRET_KEY = "django-insecure-client-tests-only"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "django_asgi_ws",
    "clientsite",
]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]

ROOT_URLCONF = "clientsite.urls"
WEBSOCKET_URLCONF = "clientsite.ws_urls"
WEBSOCKET_BROADCAST = {
    "BACKEND": "django_asgi_ws.broadcast.backends.redis.RedisBackend",
    "LOCATION": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    "PREFIX": os.environ.get("CLIENT_SITE_PREFIX", "client-site:"),
    "HISTORY": {
        "room-*": {"SIZE": 100, "TTL": 300},
        "small-*": {"SIZE": 3, "TTL": 300},  # loses what a page missed beyond 3 messages
    },  # any other group ("live-*") keeps nothing
}

# Users, for tickets: CLIENT_SITE_DB names a database the tests migrate.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("CLIENT_SITE_DB", ":memory:"),
    }
}
STATIC_URL = "static/"
USE_TZ = True
