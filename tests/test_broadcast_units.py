"""The pieces of the broadcast subsystem on their own: frames, names, backoff, event loops."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections.abc import Iterator

import pytest

from django_asgi_ws.broadcast import validate_group
from django_asgi_ws.broadcast.backends.memory import MemoryBackend
from django_asgi_ws.broadcast.backoff import Backoff
from django_asgi_ws.broadcast.cancellation import cancel_and_wait, run_with_timeout
from django_asgi_ws.broadcast.encoding import encode, parse, unpack
from django_asgi_ws.broadcast.options import GROUP_MAX_LENGTH

# Frames -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "frame", "received"),
    [
        ({"a": "é"}, b'J{"a":"\xc3\xa9"}', {"a": "é"}),
        (b"\x00raw", b"B\x00raw", b"\x00raw"),
        (memoryview(b"view"), b"Bview", b"view"),
    ],
)
def test_json_and_bytes_frames_say_which_they_are(
    message: object, frame: bytes, received: object
) -> None:
    assert encode(message) == frame
    assert parse(unpack(frame)) == received


@pytest.mark.parametrize(
    ("frame", "payload", "message"),
    [
        (b'J{"a":"\xc3\xa9"}', '{"a":"é"}', {"a": "é"}),
        (b'J{"a":[1]}', '{"a":[1]}', {"a": [1]}),
        (b"B\x00raw", b"\x00raw", b"\x00raw"),
    ],
)
def test_a_frame_is_unpacked_once_and_parsed_per_reader(
    frame: bytes, payload: str | bytes, message: object
) -> None:
    assert unpack(frame) == payload
    assert parse(payload) == message


@pytest.mark.parametrize("frame", [b"", b"X{}", b"J\xff"])
def test_a_frame_with_a_bad_tag_or_bad_utf8_is_refused_when_unpacked(frame: bytes) -> None:
    with pytest.raises(ValueError):
        unpack(frame)


@pytest.mark.parametrize("text", ["{", '{"a":1} trailing', ""])
def test_malformed_json_is_refused_when_parsed(text: str) -> None:
    with pytest.raises(ValueError):
        parse(text)


async def test_a_malformed_frame_is_skipped_by_the_subscriber(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = MemoryBackend()
    async with backend.subscribe("g") as subscription:
        backend._deliver("g", b"J{broken")  # as if another program had published it
        await backend.publish("g", "next")
        assert await subscription.get() == "next"
    assert "Skipped a malformed message in group 'g'" in caplog.text


# Group names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["chat", "room-42", "user:17", "a.b_c", "x" * GROUP_MAX_LENGTH, "UPPER"]
)
def test_valid_group_names(name: str) -> None:
    assert validate_group(name) == name


# Backoff ----------------------------------------------------------------------------


def test_backoff_doubles_up_to_its_maximum() -> None:
    backoff = Backoff(0.1, 1.0, rng=lambda: 1.0)
    assert [backoff.next() for _ in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_backoff_jitters_between_half_and_all_of_each_delay() -> None:
    draws: Iterator[float] = itertools.cycle([0.0, 0.5])
    backoff = Backoff(1.0, 8.0, rng=lambda: next(draws))
    assert [backoff.next() for _ in range(4)] == pytest.approx([0.5, 1.5, 2.0, 6.0])


def test_backoff_starts_over_after_a_reset() -> None:
    backoff = Backoff(0.1, 10.0, rng=lambda: 1.0)
    backoff.next()
    backoff.next()
    backoff.reset()
    assert backoff.next() == pytest.approx(0.1)


# Cancellation helpers ---------------------------------------------------------------


async def test_run_with_timeout_gives_the_result_or_times_out() -> None:
    assert await run_with_timeout(asyncio.sleep(0, "done"), 1) == "done"
    with pytest.raises(asyncio.TimeoutError):
        await run_with_timeout(asyncio.sleep(10), 0.01)


async def test_cancel_and_wait_insists_until_the_task_ends() -> None:
    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)  # swallowed once, as asyncio.wait_for may do before 3.12
        await asyncio.sleep(10)

    task = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task), 1)
    assert task.cancelled()


# Event loops ------------------------------------------------------------------------


class LoopThread:
    """An event loop running in a thread of its own, as a server's loop is."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever)
        self.thread.start()

    def run(self, coroutine: object) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(5)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    loop_thread = LoopThread()
    yield loop_thread
    loop_thread.stop()


async def test_publishing_from_another_loop_goes_through_the_backends_loop(
    loop_thread: LoopThread,
) -> None:
    backend = MemoryBackend()
    subscription = backend.subscribe("g")
    loop_thread.run(subscription.__aenter__())
    try:
        await backend.publish("g", "from the test's loop")
        assert loop_thread.run(subscription.get()) == "from the test's loop"
        with pytest.raises(RuntimeError, match="open on the event loop of another thread"):
            await backend.open()
    finally:
        loop_thread.run(backend.close())


def test_a_backend_whose_loop_closed_opens_again_on_the_next_one() -> None:
    backend = MemoryBackend()

    async def roundtrip(text: str) -> object:
        async with backend.subscribe("g") as subscription:
            await backend.publish("g", text)
            return await subscription.get()

    assert asyncio.run(roundtrip("first loop")) == "first loop"
    assert asyncio.run(roundtrip("second loop")) == "second loop"


# Memory: publish_sync where nobody can hear ------------------------------------------


def broadcast_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "django_asgi_ws.broadcast" and record.levelno == logging.WARNING
    ]


def test_memory_publish_sync_in_a_process_without_subscriptions_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A management command, a task worker, a WSGI server: no event loop, no
    # subscription, so the message reaches nobody.
    backend = MemoryBackend()
    backend.publish_sync("orders", {"id": 1})
    backend.publish_sync("orders", {"id": 2})
    backend.publish_sync("invoices", {"id": 3})
    [warning] = broadcast_warnings(caplog)
    assert warning.startswith("publish_sync() to group 'orders' reached nobody")
    assert "Set WEBSOCKET_BROADCAST to the Redis or PostgreSQL backend" in warning
    assert backend.local_groups == set()


def test_memory_publish_sync_from_a_thread_of_the_server_does_not_warn(
    loop_thread: LoopThread, caplog: pytest.LogCaptureFixture
) -> None:
    # A sync view under an ASGI server: the server's loop runs the subscriptions.
    backend = MemoryBackend()
    subscription = backend.subscribe("orders")
    loop_thread.run(subscription.__aenter__())
    try:
        backend.publish_sync("orders", "from a sync view")
        assert loop_thread.run(subscription.get()) == "from a sync view"
        loop_thread.run(subscription.close())
        backend.publish_sync("orders", "nobody connected right now, which is no mistake")
    finally:
        loop_thread.run(backend.close())
    assert broadcast_warnings(caplog) == []


def test_memory_publish_sync_reaches_subscriptions_of_a_loop_that_runs_in_steps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A script that runs its event loop now and then, from this same thread.
    backend = MemoryBackend()
    loop = asyncio.new_event_loop()
    try:
        subscription = backend.subscribe("orders")
        loop.run_until_complete(subscription.__aenter__())
        backend.publish_sync("orders", "between two steps")
        assert loop.run_until_complete(subscription.get()) == "between two steps"
        loop.run_until_complete(backend.close())
    finally:
        loop.close()
    assert broadcast_warnings(caplog) == []
