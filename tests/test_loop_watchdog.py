"""The watchdog that reports what blocks the event loop, in process."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import logging
import re
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler

from django_asgi_ws import loop_watchdog
from django_asgi_ws.blocked_report import describe_blocking, task_context
from django_asgi_ws.handler import WebSocketApplication
from django_asgi_ws.servers.lifespan_driver import LifespanManager
from django_asgi_ws.test import WebSocketClient
from tests import blocking_views
from tests.asgi_http import asgi_get

THRESHOLD = 0.2
BLOCK = 0.6  # three thresholds


@pytest.fixture
def blocked_log(settings: Any, caplog: pytest.LogCaptureFixture) -> Iterator[Any]:
    """The records of ``django_asgi_ws.blocked``, with the threshold at THRESHOLD."""
    settings.WEBSOCKET_BLOCKED_LOOP_WARNING = THRESHOLD
    caplog.set_level(logging.INFO, logger="django_asgi_ws.blocked")
    yield caplog
    # The test's loop closes after this fixture; its watchdog then ends.


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "django_asgi_ws.blocked" and record.levelno == logging.WARNING
    ]


async def total_reported(caplog: pytest.LogCaptureFixture) -> float:
    """The whole block's duration, from the INFO line the watchdog logs once it ended."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        for record in caplog.records:
            match = re.match(r"Event loop blocked for ([\d.]+) s in total", record.getMessage())
            if match:
                return float(match[1])
        await asyncio.sleep(0.02)
    raise AssertionError("The end of the block was not logged.")


async def exchange(client: WebSocketClient, path: str, *messages: str) -> None:
    async with client.connect(path) as ws:
        for message in messages:
            await ws.send_text(message)
            assert await ws.receive_text() == "slept"


def source_line(function: Any, text: str) -> int:
    lines, first = inspect.getsourcelines(function)
    return first + next(number for number, line in enumerate(lines) if text in line)


async def test_a_view_blocking_the_loop_is_reported_once_with_its_name_and_line(
    client: WebSocketClient, blocked_log: pytest.LogCaptureFixture
) -> None:
    await exchange(client, "/ws/block-the-loop/", str(BLOCK))
    total = await total_reported(blocked_log)
    [warning] = warnings_of(blocked_log)
    assert re.match(
        r"Event loop blocked for 0\.\d\d s so far by websocket view "
        r"tests\.blocking_views\.block_the_loop \(/ws/block-the-loop/\): every other "
        r"connection of this process waits until it returns\.\n"
        r"Stack \(most recent call last\):\n",
        warning,
    )
    line = source_line(blocking_views.block_the_loop, "time.sleep(")
    assert warning.endswith(
        f'File "{blocking_views.__file__}", line {line}, in block_the_loop\n'
        "    time.sleep(float(text))  # the line the report shows"
    )
    assert BLOCK - THRESHOLD / loop_watchdog.BEATS_PER_THRESHOLD - 0.01 <= total < BLOCK + 0.3


async def test_a_view_that_only_awaits_is_never_reported(
    client: WebSocketClient, blocked_log: pytest.LogCaptureFixture
) -> None:
    await exchange(client, "/ws/await-only/", str(BLOCK))
    await asyncio.sleep(THRESHOLD)
    assert blocked_log.records == []


async def test_a_task_the_view_started_is_reported_with_the_views_name(
    client: WebSocketClient, blocked_log: pytest.LogCaptureFixture
) -> None:
    await exchange(client, "/ws/block-in-a-child-task/", str(BLOCK))
    await total_reported(blocked_log)
    [warning] = warnings_of(blocked_log)
    assert "by websocket view tests.blocking_views.block_in_a_child_task (" in warning
    assert warning.endswith("in sleep_in_a_task\n    time.sleep(seconds)")


async def test_a_blocking_http_request_is_reported_with_its_method_and_path(
    blocked_log: pytest.LogCaptureFixture,
) -> None:
    application = WebSocketApplication(DjangoASGIHandler())
    status, _ = await asgi_get(application, f"/block/?seconds={BLOCK}")
    assert status == 200
    await total_reported(blocked_log)
    [warning] = warnings_of(blocked_log)
    assert " so far by HTTP request (GET /block/): " in warning
    assert warning.endswith('in block_http\n    time.sleep(float(request.GET["seconds"]))')


async def test_repeated_blocks_of_a_view_are_counted_in_its_next_report(
    client: WebSocketClient, blocked_log: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    async with client.connect("/ws/block-the-loop/") as ws:
        for _ in range(3):
            await ws.send_text(str(BLOCK))
            assert await ws.receive_text() == "slept"
            await asyncio.sleep(THRESHOLD)  # the end of the block seen
        assert len(warnings_of(blocked_log)) == 1
        monkeypatch.setattr(loop_watchdog, "REPEAT_INTERVAL", 0.0)
        await ws.send_text(str(BLOCK))
        assert await ws.receive_text() == "slept"
    await asyncio.sleep(THRESHOLD)
    first, second = warnings_of(blocked_log)
    assert "since the last report" not in first
    assert "returns. It blocked the loop 2 more time(s) since the last report.\n" in second


async def test_none_starts_no_watchdog(
    settings: Any, client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    settings.WEBSOCKET_BLOCKED_LOOP_WARNING = None
    caplog.set_level(logging.INFO, logger="django_asgi_ws.blocked")
    await exchange(client, "/ws/block-the-loop/", "0.6")
    assert id(asyncio.get_running_loop()) not in loop_watchdog._watchdogs
    assert caplog.records == []


async def test_a_new_threshold_replaces_the_watchdog(
    settings: Any, client: WebSocketClient
) -> None:
    await exchange(client, "/ws/await-only/", "0")
    loop = asyncio.get_running_loop()
    first = loop_watchdog._watchdogs[id(loop)]
    settings.WEBSOCKET_BLOCKED_LOOP_WARNING = 2.0
    await exchange(client, "/ws/await-only/", "0")
    assert not first._thread.is_alive()
    assert loop_watchdog._watchdogs[id(loop)].threshold == 2.0


async def test_an_invalid_threshold_is_logged_once_and_watches_nothing(
    settings: Any, client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    settings.WEBSOCKET_BLOCKED_LOOP_WARNING = "0.5"
    await exchange(client, "/ws/await-only/", "0")
    await exchange(client, "/ws/await-only/", "0")
    assert id(asyncio.get_running_loop()) not in loop_watchdog._watchdogs
    [error] = [record for record in caplog.records if record.name == "django_asgi_ws.blocked"]
    assert error.levelno == logging.ERROR
    assert "it is '0.5', so blocked event loops are not reported" in error.getMessage()


# The watchdog's thread ---------------------------------------------------------------


async def test_lifespan_startup_starts_the_watchdog_and_shutdown_ends_its_thread() -> None:
    manager = LifespanManager(WebSocketApplication(DjangoASGIHandler()))
    await manager.startup()
    watchdog = loop_watchdog._watchdogs[id(asyncio.get_running_loop())]
    assert watchdog._thread.is_alive()
    await manager.shutdown()
    assert not watchdog._thread.is_alive()
    assert id(asyncio.get_running_loop()) not in loop_watchdog._watchdogs


def test_the_thread_ends_soon_after_its_loop_closed() -> None:
    async def serve_once() -> loop_watchdog.LoopWatchdog:
        await asgi_get(WebSocketApplication(DjangoASGIHandler()), "/hello/")
        return loop_watchdog._watchdogs[id(asyncio.get_running_loop())]

    watchdog = asyncio.run(serve_once())
    watchdog._thread.join(watchdog.interval * 3)
    assert not watchdog._thread.is_alive()


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "left unclosed"])
def test_a_loop_is_not_kept_alive_by_its_watchdog(lifespan_hooks: Any, closed: bool) -> None:
    lifespan_hooks[0].clear()  # the broadcast backend's would keep the loop
    loop = asyncio.new_event_loop()
    loop.run_until_complete(asgi_get(WebSocketApplication(DjangoASGIHandler()), "/hello/"))
    thread = loop_watchdog._watchdogs[id(loop)]._thread
    alive = weakref.ref(loop)
    if closed:
        loop.close()
        del loop
        collect(alive)
    else:  # collected all the same, with asyncio's warning
        with pytest.warns(ResourceWarning, match="unclosed event loop"):
            del loop
            collect(alive)
    assert alive() is None
    thread.join(1)
    assert not thread.is_alive()


def collect(alive: weakref.ref[Any]) -> None:
    """Collect garbage until *alive* is dead, or a second passed: the watchdog's thread
    holds its loop for an instant at each look."""
    deadline = time.monotonic() + 1
    while alive() is not None and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.01)


def test_a_stopped_loop_is_not_a_blocked_one(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.WEBSOCKET_BLOCKED_LOOP_WARNING = THRESHOLD
    caplog.set_level(logging.INFO, logger="django_asgi_ws.blocked")
    application = WebSocketApplication(DjangoASGIHandler())
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(asgi_get(application, "/hello/"))
        time.sleep(BLOCK)  # between two runs, as between a test's fixtures
        loop.run_until_complete(asyncio.sleep(THRESHOLD))
    finally:
        loop.close()
    assert caplog.records == []


def test_a_loop_waiting_in_its_selector_is_not_blocked() -> None:
    # What a process stopped by SIGSTOP shows when it resumes: a late
    # heartbeat, while the loop only waits for I/O.
    loop = asyncio.new_event_loop()
    described: list[Any] = []

    def look(loop_thread_id: int) -> None:
        time.sleep(0.1)
        described.append(describe_blocking(loop, loop_thread_id))
        loop.call_soon_threadsafe(loop.stop)

    looker = threading.Thread(target=look, args=(threading.get_ident(),))
    try:
        loop.call_soon(looker.start)
        loop.run_forever()
    finally:
        looker.join()
        loop.close()
    assert described == [None]


# What a task serves, across Python versions ------------------------------------------


async def test_the_context_of_a_task_is_found_before_those_of_its_callbacks() -> None:
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker")
    other = contextvars.Context()

    async def child() -> None:
        marker.set("the task's")
        await asyncio.sleep(0)

    task = asyncio.ensure_future(child())
    task.add_done_callback(lambda _: None, context=other)
    task.add_done_callback(lambda _: None, context=other)
    await asyncio.sleep(0)
    context = task_context(task)
    assert context is not None and context is not other
    assert context.get(marker) == "the task's"
    await task
