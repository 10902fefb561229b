"""Renamed public names still import, with a DeprecationWarning that names the new one."""

from __future__ import annotations

import importlib

import pytest

from django_asgi_ws.handler import WebSocketApplication
from django_asgi_ws.test import WebSocketConnection


@pytest.mark.parametrize(
    ("module_name", "old_name", "new"),
    [
        ("django_asgi_ws.asgi", "ASGIHandler", WebSocketApplication),
        ("django_asgi_ws.handler", "ASGIHandler", WebSocketApplication),
        ("django_asgi_ws.test", "WebSocketSession", WebSocketConnection),
    ],
)
def test_an_old_name_warns_and_gives_the_renamed_object(
    module_name: str, old_name: str, new: type
) -> None:
    module = importlib.import_module(module_name)
    with pytest.warns(
        DeprecationWarning, match=rf"{module_name}\.{old_name} is now {new.__name__}\."
    ):
        assert getattr(module, old_name) is new


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    module = importlib.import_module("django_asgi_ws.test")
    with pytest.raises(AttributeError, match="has no attribute 'WebSocketSesion'"):
        module.WebSocketSesion  # noqa: B018
