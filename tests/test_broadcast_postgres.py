"""The PostgreSQL backend: NOTIFY payloads and their chunks, channels, the DATABASES alias,
and surviving a PostgreSQL restart (on a cluster of the test's own)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from django_asgi_ws.broadcast import BroadcastError
from django_asgi_ws.broadcast.backends.postgres import PostgresBackend
from django_asgi_ws.broadcast.backends.postgres_connection import connect_kwargs_from_database
from django_asgi_ws.broadcast.backends.postgres_payload import (
    MAX_PAYLOAD,
    Reassembler,
    from_text,
    split,
    to_text,
)
from django_asgi_ws.broadcast.encoding import encode, parse, split_origin, unpack, with_origin
from tests.broadcast_support import (
    eventually,
    postgres_dsn,
    postgres_server,
    unique_group,
    unique_prefix,
)


@pytest.fixture
async def backend() -> AsyncIterator[PostgresBackend]:
    backend = PostgresBackend(location=postgres_dsn(), prefix=unique_prefix())
    yield backend
    await backend.close()


@pytest.fixture
async def sql() -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A plain connection, as another program (or a trigger) sending notifications."""
    connection = await psycopg.AsyncConnection.connect(postgres_dsn(), autocommit=True)
    yield connection
    await connection.close()


async def receive(subscription: Any, timeout: float = 5.0) -> Any:
    return await asyncio.wait_for(subscription.get(), timeout)


# Payloads ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message", [{"a": [1, 2.5, None, True]}, "ascii", "héllo 🎉", b"\x00\xff" * 10, b""]
)
def test_a_payload_is_ascii_text_that_gives_the_frame_back(message: Any) -> None:
    text = to_text(encode(message))
    assert text.isascii()
    assert parse(unpack(from_text(text))) == message


def test_a_payload_carries_the_origin_of_the_process_that_published_it() -> None:
    text = to_text(with_origin(b"0123456789abcdef", encode({"a": "é"})))
    assert text == 'O0123456789abcdef J{"a":"\\u00e9"}'
    origin, frame = split_origin(from_text(text))
    assert (origin, parse(unpack(frame))) == (b"0123456789abcdef", {"a": "é"})


def test_json_beyond_ascii_is_escaped_as_json_would() -> None:
    assert to_text(encode("é🎉")) == 'J"\\u00e9\\ud83c\\udf89"'


def test_a_payload_within_the_limit_is_sent_as_it_is() -> None:
    text = "J" + "x" * (MAX_PAYLOAD - 1)
    assert split(text, "abc") == [text]


def test_a_longer_payload_is_split_into_chunks_within_the_limit() -> None:
    text = "J" + "x" * (3 * MAX_PAYLOAD)
    chunks = split(text, "0123456789abcdef")
    assert len(chunks) == 4
    assert all(len(chunk) <= MAX_PAYLOAD for chunk in chunks)
    assert chunks[0].startswith("C0123456789abcdef:0:4:J")
    assert chunks[3].startswith("C0123456789abcdef:3:4:")


def test_chunks_are_joined_in_any_order_and_per_message() -> None:
    reassembler = Reassembler()
    first = split(to_text(encode("a" * 20000)), "aaaa")
    second = split(to_text(encode(b"b" * 15000)), "bbbb")  # base64: 20000 characters
    assert len(first) == len(second) == 3
    results = [
        reassembler.feed("channel", chunk)
        for chunk in (first[2], second[0], first[0], second[2], first[1])
    ]
    assert results[:4] == [None] * 4
    assert results[4] is not None and parse(unpack(results[4])) == "a" * 20000
    assert reassembler.pending == 1
    assert reassembler.feed("channel", second[0]) is None  # a chunk again changes nothing
    completed = reassembler.feed("channel", second[1])
    assert completed is not None and parse(unpack(completed)) == b"b" * 15000
    assert reassembler.pending == 0


def test_the_same_message_id_on_two_channels_is_two_messages() -> None:
    reassembler = Reassembler()
    chunks = split(to_text(encode("x" * 10000)), "beef")
    assert reassembler.feed("one", chunks[0]) is None
    assert reassembler.feed("two", chunks[1]) is None
    assert reassembler.pending == 2


def test_an_incomplete_message_is_dropped_after_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    reassembler = Reassembler(timeout=30.0, clock=lambda: now[0])
    chunks = split(to_text(encode("x" * 10000)), "dead")
    reassembler.feed("channel", chunks[0])
    now[0] += 29
    reassembler.expire()
    assert reassembler.pending == 1
    now[0] += 2
    assert reassembler.feed("channel", to_text(encode("next"))) == encode("next")
    assert reassembler.pending == 0
    assert reassembler.expired == 1
    assert "Dropped broadcast message dead: 1 of its 2 chunks arrived." in caplog.text


@pytest.mark.parametrize(
    "payload",
    ["", "X", "Bnot base64!", "C1:0:", "Cabc:2:2:piece", "Cabc:0:0:"],
)
def test_a_malformed_payload_is_refused(payload: str) -> None:
    with pytest.raises(ValueError):
        Reassembler().feed("channel", payload)


# On the shared PostgreSQL -------------------------------------------------------------


def test_a_group_is_the_prefix_plus_the_md5_of_its_name() -> None:
    backend = PostgresBackend(prefix="site:")
    assert backend.channel_name("chat") == "site:" + hashlib.md5(b"chat").hexdigest()
    assert len(PostgresBackend(prefix="p" * 30).channel_name("g" * 100)) <= 63


async def test_sql_can_publish_to_a_group(
    backend: PostgresBackend, sql: psycopg.AsyncConnection[Any]
) -> None:
    group = unique_group()
    async with backend.subscribe(group) as subscription:
        await sql.execute(
            "SELECT pg_notify(%s || md5(%s), 'J' || %s)",
            (backend.prefix, group, json.dumps({"from": "a trigger", "ünïcode": "✓"})),
        )
        assert await receive(subscription) == {"from": "a trigger", "ünïcode": "✓"}


async def test_a_malformed_notification_is_skipped_with_a_warning(
    backend: PostgresBackend, sql: psycopg.AsyncConnection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    group = unique_group()
    async with backend.subscribe(group) as subscription:
        channel = backend.channel_name(group)
        await sql.execute("SELECT pg_notify(%s, 'nonsense')", (channel,))
        await backend.publish(group, "fine")
        assert await receive(subscription) == "fine"
    assert "Skipped a malformed notification" in caplog.text


@pytest.mark.parametrize("size", [MAX_PAYLOAD - 3, MAX_PAYLOAD - 2, MAX_PAYLOAD + 1, 20000])
async def test_messages_around_the_notify_limit_arrive(backend: PostgresBackend, size: int) -> None:
    group = unique_group()
    async with backend.subscribe(group) as subscription:
        await backend.publish(group, "x" * size)  # "J" and two quotes around it
        assert await receive(subscription) == "x" * size


async def test_chunked_messages_of_concurrent_publishers_do_not_mix(
    backend: PostgresBackend,
) -> None:
    publishers = [PostgresBackend(location=postgres_dsn(), prefix=backend.prefix) for _ in range(3)]
    group = unique_group()
    try:
        async with backend.subscribe(group, queue_size=100) as subscription:
            await asyncio.gather(
                *(
                    publisher.publish(group, [number, "y" * 30000])
                    for number, publisher in enumerate(publishers)
                    for _ in range(3)
                )
            )
            received = [await receive(subscription) for _ in range(9)]
            assert sorted(number for number, _ in received) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    finally:
        for publisher in publishers:
            await publisher.close()


# Configuration ----------------------------------------------------------------------


def test_the_connection_comes_from_a_databases_entry() -> None:
    entry = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "site",
        "USER": "web",
        "PASSWORD": "s3cret",
        "HOST": "db.internal",
        "PORT": "5433",
        "OPTIONS": {"sslmode": "require", "isolation_level": 2, "pool": True},
    }
    assert connect_kwargs_from_database("default", entry) == {
        "dbname": "site",
        "user": "web",
        "password": "s3cret",
        "host": "db.internal",
        "port": "5433",
        "sslmode": "require",
    }


def test_a_databases_entry_that_is_not_postgresql_is_refused() -> None:
    with pytest.raises(ValueError, match=r"whose ENGINE is 'django\.db\.backends\.sqlite3'"):
        connect_kwargs_from_database("default", {"ENGINE": "django.db.backends.sqlite3"})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        # tests.settings: "default" is SQLite, "pg" is PostgreSQL.
        ({}, r"DATABASES\['default'\]"),
        ({"OPTIONS": {"DATABASE": "nope"}}, "'nope', which is not in DATABASES"),
        ({"LOCATION": postgres_dsn(), "OPTIONS": {"DATABASE": "pg"}}, "sets both LOCATION"),
    ],
)
def test_a_database_alias_it_cannot_use_is_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PostgresBackend.from_config(config)


async def test_a_database_alias_with_options_over_it_works(backend: PostgresBackend) -> None:
    # The "pg" alias names the shared server; OPTIONS choose the database on it.
    dbname = psycopg.conninfo.conninfo_to_dict(postgres_dsn())["dbname"]
    aliased = PostgresBackend.from_config(
        {"PREFIX": backend.prefix, "OPTIONS": {"DATABASE": "pg", "dbname": dbname}}
    )
    group = unique_group()
    try:
        async with backend.subscribe(group) as subscription:
            await aliased.publish(group, "through the alias")
            assert await receive(subscription) == "through the alias"
    finally:
        await aliased.close()


@pytest.mark.parametrize(
    "location",
    ["postgresql://u@h/db", "postgres://h", "host=h dbname=db", ""],
)
def test_locations_are_urls_or_libpq_strings(location: str) -> None:
    PostgresBackend.validate_location(location)


@pytest.mark.parametrize("location", ["redis://h", "host=h nonsense"])
def test_other_locations_are_refused(location: str) -> None:
    with pytest.raises(ValueError):
        PostgresBackend.validate_location(location)


def test_the_broker_is_named_without_its_password() -> None:
    backend = PostgresBackend(location="postgresql://web:s3cret@db.internal:5433/site")
    assert backend.broker == "PostgreSQL at db.internal:5433/site"


# Outages (a cluster of the test's own; e2e, as they need PostgreSQL's binaries) --------


@pytest.mark.e2e
async def test_subscriptions_and_publishers_resume_after_postgresql_restarts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with postgres_server() as server:
        backend = PostgresBackend(location=server.dsn, prefix=unique_prefix(), timeout=2.0)
        backend.reconnect_initial_delay = 0.05
        backend.reconnect_max_delay = 0.2
        before, during = unique_group("before"), unique_group("during")
        try:
            async with backend.subscribe(before) as subscription:
                await backend.publish(before, "before the outage")
                assert await receive(subscription) == "before the outage"
                await asyncio.to_thread(server.stop)
                await eventually(lambda: not backend.connected)
                with pytest.raises(BroadcastError) as raised:
                    await backend.publish(before, "lost")
                assert f"PostgreSQL at 127.0.0.1:{server.port}/postgres failed" in str(raised.value)
                await asyncio.wait_for(subscription.join(during), 0.5)

                await asyncio.to_thread(server.start)
                await backend.wait_connected(timeout=10)
                # The publishing connection notices it is stale and reconnects first.
                await backend.publish(before, "after the outage")
                await backend.publish(during, "joined during the outage")
                assert await receive(subscription) == "after the outage"
                assert await receive(subscription) == "joined during the outage"
                assert backend.reconnections == 1
        finally:
            await backend.close()
    assert "Reconnected to PostgreSQL" in caplog.text


@pytest.mark.e2e
def test_publish_sync_reconnects_after_postgresql_restarts() -> None:
    with postgres_server() as server:
        backend = PostgresBackend(location=server.dsn, prefix=unique_prefix(), timeout=2.0)
        try:
            backend.publish_sync("group", "works")
            server.stop()
            with pytest.raises(BroadcastError, match="failed"):
                backend.publish_sync("group", "lost")
            server.start()
            backend.publish_sync("group", "works again")
        finally:
            backend.close_sync()
