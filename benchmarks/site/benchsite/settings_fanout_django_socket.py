"""django-socket for fanout_sockets.py, as settings_django_socket, with the handlers
of the ``benchsite.fanout`` app and the layer the environment names: FANOUT_LAYER
memory (the default) or redis (at FANOUT_LOCATION, with FANOUT_PREFIX as its
prefix), as its README sets them."""

from __future__ import annotations

import os

from benchsite.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django_socket", "benchsite.fanout"]  # noqa: F405
if os.environ.get("FANOUT_LAYER", "memory") == "redis":
    DJANGO_SOCKET = {
        "LAYER": "redis",
        "REDIS_URL": os.environ["FANOUT_LOCATION"],
        "PREFIX": os.environ["FANOUT_PREFIX"],
    }
