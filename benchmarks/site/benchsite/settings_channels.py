"""Channels 4 as its documentation sets it up: daphne-free (the server is given on
the command line), the in-memory channel layer."""

from __future__ import annotations

from benchsite.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "channels"]  # noqa: F405
ASGI_APPLICATION = "benchsite.asgi_channels.application"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
