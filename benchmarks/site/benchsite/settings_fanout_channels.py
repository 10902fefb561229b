"""Channels 4 for fanout_sockets.py, as settings_channels, with the consumers of
fanout_consumers and the channel layer the environment names: FANOUT_LAYER memory
(InMemoryChannelLayer, the default) or redis (channels_redis' RedisChannelLayer,
at FANOUT_LOCATION, with FANOUT_PREFIX as its prefix)."""

from __future__ import annotations

import os

from benchsite.settings_channels import *  # noqa: F403

ASGI_APPLICATION = "benchsite.asgi_fanout_channels.application"
if os.environ.get("FANOUT_LAYER", "memory") == "redis":
    # redis-py 8 reads with a 5 s socket timeout by default, shorter than the
    # blocking reads of RedisChannelLayer: idle consumers would die of it.
    host = {"address": os.environ["FANOUT_LOCATION"], "socket_timeout": None}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [host], "prefix": os.environ["FANOUT_PREFIX"]},
        }
    }
