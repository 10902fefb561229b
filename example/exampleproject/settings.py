"""
Django settings for the django-asgi-ws example project.

These settings are for local development only. Do not use them in production.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-insecure-example-project-key-for-local-development-only"

DEBUG = True

ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_asgi_ws",
    "demo",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "exampleproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "exampleproject.asgi.application"

# URLconf holding the websocket routes, served by django_asgi_ws.
WEBSOCKET_URLCONF = "exampleproject.ws_urls"

# The origin check stays on: pages of the hosts in ALLOWED_HOSTS may open
# websockets, pages of other sites may not (WEBSOCKET_ALLOWED_ORIGINS unset).

# Chat messages go to every socket of a room through broadcast groups: within
# this process by default, or through Redis when REDIS_URL is set, so that
# several server processes share the rooms (pip install -e ".[redis]"). The
# rooms keep their last 200 messages for an hour, for the pages that come back.
WEBSOCKET_BROADCAST = {"HISTORY": {"chat.room.*": {"SIZE": 200, "TTL": 3600}}}
if os.environ.get("REDIS_URL"):
    WEBSOCKET_BROADCAST |= {
        "BACKEND": "django_asgi_ws.broadcast.backends.redis.RedisBackend",
        "LOCATION": os.environ["REDIS_URL"],
        "PREFIX": "example-chat:",
    }

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"

TIME_ZONE = "UTC"

USE_I18N = True

USE_TZ = True

STATIC_URL = "static/"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "rooms"
LOGOUT_REDIRECT_URL = "index"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
        },
    },
    "loggers": {
        "django_asgi_ws": {
            "handlers": ["console"],
            "level": "INFO",
        },
    },
}
