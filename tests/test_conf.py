"""Every setting the package reads: its documented default, and overrides seen at once."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from django_asgi_ws.conf import conf

DEFAULTS = {
    "WEBSOCKET_URLCONF": None,
    "RUNASGI_SERVER": "uvicorn",
    "ASGI_APPLICATION": None,
    "WEBSOCKET_MAX_MESSAGE_SIZE": 1048576,
    "WEBSOCKET_PING_INTERVAL": 20.0,
    "WEBSOCKET_PING_TIMEOUT": 20.0,
    "WEBSOCKET_CLOSE_TIMEOUT": 5.0,
}


@pytest.mark.parametrize(("name", "default"), DEFAULTS.items())
def test_an_unset_setting_reads_as_its_documented_default(
    settings: Any, name: str, default: Any
) -> None:
    delattr(settings, name)
    assert getattr(conf, name) == default


def test_the_max_message_size_default_is_one_mebibyte(settings: Any) -> None:
    del settings.WEBSOCKET_MAX_MESSAGE_SIZE
    assert conf.WEBSOCKET_MAX_MESSAGE_SIZE == 1024 * 1024


def test_the_test_settings_websocket_urlconf_is_read() -> None:
    assert conf.WEBSOCKET_URLCONF == "tests.ws_urls"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBSOCKET_URLCONF", "tests.bad_ws_urls"),
        ("RUNASGI_SERVER", "daphne"),
        ("ASGI_APPLICATION", "tests.asgi_app.application"),
        ("WEBSOCKET_MAX_MESSAGE_SIZE", 4096),
        ("WEBSOCKET_PING_INTERVAL", None),
        ("WEBSOCKET_PING_TIMEOUT", 5.0),
    ],
)
def test_override_settings_is_seen_immediately(name: str, value: Any) -> None:
    with override_settings(**{name: value}):
        assert getattr(conf, name) == value
    assert getattr(conf, name) != value


def test_the_settings_fixture_is_seen_immediately(settings: Any) -> None:
    settings.RUNASGI_SERVER = "daphne"
    assert conf.RUNASGI_SERVER == "daphne"
    settings.RUNASGI_SERVER = "uvicorn"
    assert conf.RUNASGI_SERVER == "uvicorn"
