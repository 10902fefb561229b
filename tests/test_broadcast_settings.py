"""WEBSOCKET_BROADCAST: the module-level API, loading, system checks and lifespan hooks."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from psycopg import sql

from django_asgi_ws import broadcast, lifespan
from django_asgi_ws.asgi import get_asgi_application
from django_asgi_ws.broadcast import loading
from django_asgi_ws.broadcast.backends import MEMORY, POSTGRES, REDIS
from django_asgi_ws.broadcast.backends.memory import MemoryBackend
from django_asgi_ws.broadcast.backends.postgres import PostgresBackend
from django_asgi_ws.broadcast.backends.redis import RedisBackend
from django_asgi_ws.broadcast.checks import check_broadcast_settings
from django_asgi_ws.broadcast.history import HistoryPolicy, validate_history
from django_asgi_ws.servers.lifespan_driver import LifespanManager
from tests.broadcast_support import (
    free_port,
    postgres_dsn,
    redis_url,
    unique_group,
    unique_prefix,
)

Hooks = tuple[list[lifespan.Hook], list[lifespan.Hook]]


@pytest.fixture(autouse=True)
async def fresh_backend() -> AsyncIterator[None]:
    """Each test starts without a process backend and closes the one it made."""
    await broadcast.aclose()
    yield
    await broadcast.aclose()


# The module-level API ----------------------------------------------------------------


async def test_by_default_messages_stay_in_the_process() -> None:
    group = unique_group()
    async with broadcast.subscribe(group) as subscription:
        await broadcast.publish(group, {"hello": "world"})
        assert await asyncio.wait_for(subscription.get(), 5) == {"hello": "world"}
    assert isinstance(broadcast.get_backend(), MemoryBackend)


async def test_publish_sync_from_a_sync_views_thread() -> None:
    group = unique_group()
    async with broadcast.subscribe(group) as subscription:
        await asyncio.to_thread(broadcast.publish_sync, group, "from sync code")
        assert await asyncio.wait_for(subscription.get(), 5) == "from sync code"


async def test_the_setting_chooses_and_configures_the_backend(settings: Any) -> None:
    prefix = unique_prefix()
    settings.WEBSOCKET_BROADCAST = {
        "BACKEND": REDIS,
        "LOCATION": redis_url(),
        "PREFIX": prefix,
        "QUEUE_SIZE": 7,
        "OVERFLOW": "close",
        "TIMEOUT": 2,
    }
    backend = broadcast.get_backend()
    assert isinstance(backend, RedisBackend)
    assert (backend.url, backend.prefix, backend.queue_size) == (redis_url(), prefix, 7)
    assert (backend.overflow, backend.timeout) == ("close", 2.0)
    group = unique_group()
    async with broadcast.subscribe(group) as subscription:
        assert (subscription.queue_size, subscription.overflow) == (7, "close")
        await broadcast.publish(group, "through Redis")
        assert await asyncio.wait_for(subscription.get(), 5) == "through Redis"


async def test_a_subscription_can_override_queue_size_and_overflow() -> None:
    async with broadcast.subscribe(queue_size=3, overflow="close") as subscription:
        assert (subscription.queue_size, subscription.overflow) == (3, "close")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"queue_size": 0}, "QUEUE_SIZE must be a positive integer"),
        ({"overflow": "block"}, 'OVERFLOW must be "drop_oldest" or "close"'),
    ],
)
def test_a_bad_override_is_refused(override: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        broadcast.subscribe(**override)


def test_changing_the_setting_builds_a_new_backend(settings: Any) -> None:
    first = broadcast.get_backend()
    assert broadcast.get_backend() is first
    settings.WEBSOCKET_BROADCAST = {"BACKEND": MEMORY, "PREFIX": "other:"}
    assert broadcast.get_backend() is not first
    assert broadcast.get_backend().prefix == "other:"


def test_publish_sync_in_a_process_without_a_loop_uses_its_own_connection(settings: Any) -> None:
    settings.WEBSOCKET_BROADCAST = {
        "BACKEND": POSTGRES,
        "LOCATION": postgres_dsn(),
        "PREFIX": unique_prefix(),
    }
    backend = broadcast.get_backend()
    assert isinstance(backend, PostgresBackend)
    group = unique_group()
    received: list[psycopg.Notify] = []
    with psycopg.connect(postgres_dsn(), autocommit=True) as listener:
        listener.add_notify_handler(received.append)
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(backend.channel_name(group))))
        try:
            broadcast.publish_sync(group, "from a management command")
            deadline = time.monotonic() + 5
            while not received and time.monotonic() < deadline:
                listener.execute("SELECT pg_sleep(0.01)")  # notifications arrive with results
            [notify] = received
            sender = listener.execute(
                "SELECT application_name FROM pg_stat_activity WHERE pid = %s", (notify.pid,)
            ).fetchone()
        finally:
            backend.close_sync()
    assert notify.payload == 'J"from a management command"'
    assert sender == ("django_asgi_ws.broadcast",)  # the backend's connection, not Django's
    assert not backend.is_open  # no event loop took part


# Loading errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("redis://localhost", "WEBSOCKET_BROADCAST must be a dict"),
        ({"BACKEND": MEMORY, "LOACTION": "x"}, "unknown keys: LOACTION"),
        ({"BACKEND": "nowhere.Backend"}, "'nowhere.Backend' cannot be imported"),
        ({"BACKEND": "django_asgi_ws.conf.Settings"}, "is not a subclass of"),
        ({"BACKEND": 42}, "must be the dotted path of a backend class"),
        ({"QUEUE_SIZE": 0}, "QUEUE_SIZE must be a positive integer; it is 0"),
        ({"OVERFLOW": "block"}, 'OVERFLOW must be "drop_oldest" or "close"'),
        ({"PREFIX": "my site"}, "PREFIX must be a str of ASCII letters"),
        ({"PREFIX": "p" * 31}, "PREFIX is at most 30 characters"),
        ({"TIMEOUT": -1}, "TIMEOUT must be a positive number of seconds"),
        ({"OPTIONS": []}, "OPTIONS'] must be a dict"),
        ({"BACKEND": REDIS, "LOCATION": "http://cache"}, "does not start with one of redis://"),
        ({"BACKEND": POSTGRES}, "whose ENGINE is 'django.db.backends.sqlite3'"),
    ],
)
def test_a_bad_setting_is_improperly_configured(config: Any, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message.replace("[", r"\[")):
        loading.create_backend(config)


def test_a_missing_redis_package_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.delitem(sys.modules, "django_asgi_ws.broadcast.backends.redis", raising=False)
    with pytest.raises(ImproperlyConfigured) as raised:
        loading.create_backend({"BACKEND": REDIS})
    assert "needs the 'redis' package" in str(raised.value)
    assert "pip install 'django-asgi-ws[redis]'" in str(raised.value)


# System checks ----------------------------------------------------------------------


def ids(config: Any, settings: Any) -> list[str]:
    settings.WEBSOCKET_BROADCAST = config
    return [str(message.id) for message in check_broadcast_settings()]


@pytest.mark.parametrize(
    "config",
    [
        None,  # the setting left at its default
        {"BACKEND": REDIS, "LOCATION": "rediss://cache:6380/1"},
        {"BACKEND": POSTGRES, "OPTIONS": {"DATABASE": "pg"}},
        {"BACKEND": POSTGRES, "LOCATION": "host=db dbname=site"},
        {"HISTORY": {"room-*": {"SIZE": 100, "TTL": 300}, "*": {"SIZE": 1, "TTL": 0.5}}},
        {"PRESENCE_TIMEOUT": 10},
    ],
)
def test_the_default_and_the_bundled_backends_pass_the_checks(config: Any, settings: Any) -> None:
    if config is not None:
        settings.WEBSOCKET_BROADCAST = config
    assert check_broadcast_settings() == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ([], ["E020"]),
        ({"BAKCEND": MEMORY}, ["E020"]),
        ({"BACKEND": "django_asgi_ws.broadcast.backends.memcached.Backend"}, ["E021"]),
        ({"QUEUE_SIZE": "100"}, ["E024"]),
        ({"OVERFLOW": "drop_newest"}, ["E025"]),
        ({"BACKEND": REDIS, "LOCATION": "localhost:6379"}, ["E026"]),
        ({"BACKEND": POSTGRES, "LOCATION": "mysql://db"}, ["E026"]),
        ({"PREFIX": "a/b"}, ["E027"]),
        ({"TIMEOUT": 0}, ["E028"]),
        ({"OPTIONS": "ssl"}, ["E028"]),
        ({"BACKEND": POSTGRES, "OPTIONS": {"DATABASE": "missing"}}, ["E029"]),
        ({"BACKEND": POSTGRES}, ["E029"]),
        ({"QUEUE_SIZE": -1, "OVERFLOW": 1}, ["E024", "E025"]),
        ({"HISTORY": ["room-*"]}, ["E030"]),
        ({"HISTORY": {"room-*": {"SIZE": 100}}}, ["E030"]),
        ({"HISTORY": {"room-*": {"SIZE": 0, "TTL": 60}}}, ["E030"]),
        ({"HISTORY": {"room-*": {"SIZE": 100, "TTL": "1h"}}}, ["E030"]),
        ({"HISTORY": {"room-*": {"SIZE": 100, "TTL": 60, "MAXLEN": 5}}}, ["E030"]),
        ({"HISTORY": {"": {"SIZE": 100, "TTL": 60}}}, ["E030"]),
        ({"PRESENCE_TIMEOUT": 0}, ["E031"]),
        ({"PRESENCE_TIMEOUT": True}, ["E031"]),
    ],
)
def test_each_problem_has_its_check_id(config: Any, expected: list[str], settings: Any) -> None:
    assert ids(config, settings) == [f"django_asgi_ws.{check_id}" for check_id in expected]


@pytest.mark.parametrize(
    ("package", "backend", "check_id", "extra"),
    [("redis", REDIS, "E022", "redis"), ("psycopg", POSTGRES, "E023", "postgres")],
)
def test_a_missing_package_is_its_own_check(
    package: str,
    backend: str,
    check_id: str,
    extra: str,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, package, None)
    monkeypatch.delitem(sys.modules, backend.rpartition(".")[0], raising=False)
    settings.WEBSOCKET_BROADCAST = {"BACKEND": backend}
    [error] = check_broadcast_settings()
    assert error.id == f"django_asgi_ws.{check_id}"
    assert error.hint == f"pip install 'django-asgi-ws[{extra}]'"


# Lifespan ---------------------------------------------------------------------------


def test_the_lifespan_hooks_are_installed_once(lifespan_hooks: Hooks) -> None:
    loading.install_lifespan_hooks()
    loading.install_lifespan_hooks()
    startup_hooks, shutdown_hooks = lifespan_hooks
    assert startup_hooks.count(loading.startup) == 1
    assert shutdown_hooks.count(loading.shutdown) == 1


async def test_the_server_opens_the_backend_at_startup_and_closes_it_at_shutdown(
    lifespan_hooks: Hooks, settings: Any
) -> None:
    settings.WEBSOCKET_BROADCAST = {"BACKEND": REDIS, "LOCATION": redis_url()}
    loading.install_lifespan_hooks()
    manager = LifespanManager(get_asgi_application())
    await manager.startup()
    backend = broadcast.get_backend()
    opened_at_startup = backend.is_open
    assert opened_at_startup
    group = unique_group()
    subscription = broadcast.subscribe(group)
    await subscription.__aenter__()
    await manager.shutdown()
    assert not backend.is_open
    assert subscription.closed  # its view's "async for" ends
    assert broadcast.get_backend() is not backend  # a new one, if used again


@pytest.mark.parametrize("backend", [REDIS, POSTGRES])
async def test_a_broker_down_at_startup_is_logged_and_the_server_starts_anyway(
    backend: str, lifespan_hooks: Hooks, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens there
    location = (
        f"redis://127.0.0.1:{port}/0" if backend == REDIS else f"postgresql://u@127.0.0.1:{port}/db"
    )
    settings.WEBSOCKET_BROADCAST = {"BACKEND": backend, "LOCATION": location, "TIMEOUT": 1}
    loading.install_lifespan_hooks()
    manager = LifespanManager(get_asgi_application())
    await manager.startup()
    assert broadcast.get_backend().is_open
    await manager.shutdown()
    [warning] = [r.getMessage() for r in caplog.records if "is unreachable" in r.getMessage()]
    assert f"127.0.0.1:{port}" in warning
    assert "publishing fails and subscriptions wait until it is back" in warning


def test_the_first_history_pattern_that_matches_applies() -> None:
    history = validate_history(
        {"room-vip-*": {"SIZE": 1000, "TTL": 3600}, "room-*": {"SIZE": 10, "TTL": 60}}
    )
    assert history.policy_for("room-vip-1") == HistoryPolicy(1000, 3600.0)
    assert history.policy_for("room-1") == HistoryPolicy(10, 60.0)
    assert history.policy_for("lobby") is None
    assert history.policy_for("ROOM-1") is None  # group names are case-sensitive
