"""ASGI type aliases, kept loose on purpose: servers differ in the details."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias

Scope: TypeAlias = MutableMapping[str, Any]
ASGIMessage: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[ASGIMessage]]
Send: TypeAlias = Callable[[ASGIMessage], Awaitable[None]]
# Loose on purpose: Django's handlers annotate scope as dict and messages as Mapping.
ASGIApp: TypeAlias = Callable[..., Awaitable[None]]
