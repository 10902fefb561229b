"""django-asgi-ws as settings_ours, with the shutdown bound deploy.py reports against."""

from __future__ import annotations

from benchsite.settings_ours import *  # noqa: F403

# Seconds the views get after SIGTERM closed their websockets (the entry points).
WEBSOCKET_SHUTDOWN_TIMEOUT = 10.0
