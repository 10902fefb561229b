"""Users for the tests (``UserManager.acreate_user`` only exists from Django 5.2)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model


async def make_user(username: str = "alice", **extra: Any) -> Any:
    manager = get_user_model()._default_manager
    return await sync_to_async(manager.create_user)(username, password="pw", **extra)  # type: ignore[attr-defined]
