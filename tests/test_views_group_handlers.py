"""A view's own ``on_group_message``: one message at a time, in order, in the view's context.

While a view waits with nothing queued, Python 3.12 and later begin its
``on_group_message`` in the publisher's turn, in an eager task, rather than
waking the view's task for it. What a view can observe is the same on every
Python, and these tests hold on all of them.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from django.urls import path

from django_asgi_ws import WebSocket, broadcast
from django_asgi_ws.broadcast import Message
from django_asgi_ws.test import WebSocketClient
from django_asgi_ws.views import WebSocketView
from tests.broadcast_support import unique_group

#: Set in on_connect, in the view's task; read and set by the handlers.
where = contextvars.ContextVar[str]("where", default="unset")


class Handlers(WebSocketView):
    """Handles group messages as their data says, and reports what it saw."""

    encoding = "json"
    disconnects: ClassVar[list[int]] = []

    async def get_groups(self) -> list[str]:
        return [self.kwargs["group"]]

    async def on_connect(self, websocket: WebSocket) -> None:
        self.handling = 0  # handlers running at once
        self.view_task = asyncio.current_task()
        where.set("set in on_connect")
        await websocket.accept()
        if "publish_in_my_context" in websocket.GET:
            assert self.view_task is not None
            self.publisher = asyncio.create_task(
                self.publish_soon(), context=self.view_task.get_context()
            )

    async def publish_soon(self) -> None:
        await asyncio.sleep(0.01)  # the view now waits
        await broadcast.publish(self.kwargs["group"], {"n": 1})

    async def on_group_message(self, websocket: WebSocket, message: Message) -> None:
        self.handling += 1
        try:
            data = message.data
            if data.get("wait"):
                await asyncio.sleep(data["wait"])
            if data.get("fail"):
                raise ValueError("broken in on_group_message")
            if data.get("again") and data["n"] < data["again"]:
                await broadcast.publish(self.kwargs["group"], {**data, "n": data["n"] + 1})
            if "set" in data:
                where.set(data["set"])
            await websocket.send_json({
                "n": data["n"],
                "at_once": self.handling,
                "where": where.get(),
                "in_view_task": asyncio.current_task() is self.view_task,
            })  # fmt: skip
        finally:
            self.handling -= 1

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_json({"client": data, "at_once": self.handling, "where": where.get()})

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        self.disconnects.append(close_code)


urlpatterns = [path("handlers/<str:group>/", Handlers.as_view())]


@pytest.fixture(autouse=True)
def routes(settings: Any) -> Iterator[None]:
    settings.WEBSOCKET_URLCONF = __name__
    Handlers.disconnects.clear()
    yield
    Handlers.disconnects.clear()


@pytest.fixture
def group() -> str:
    return unique_group()


@pytest.fixture
def url(group: str) -> str:
    return f"/handlers/{group}/"


async def test_handlers_that_wait_still_run_one_at_a_time_in_order(
    client: WebSocketClient, group: str, url: str
) -> None:
    async with client.connect(url) as ws:
        for n in range(20):
            await broadcast.publish(group, {"n": n, "wait": 0.002 if n % 2 else 0})
        replies = [await ws.receive_json() for _ in range(20)]
    assert [reply["n"] for reply in replies] == list(range(20))
    assert {reply["at_once"] for reply in replies} == {1}


async def test_a_client_message_waits_for_the_group_message_being_handled(
    client: WebSocketClient, group: str, url: str
) -> None:
    async with client.connect(url) as ws:
        await broadcast.publish(group, {"n": 1, "wait": 0.05})
        await ws.send_json("hello")
        first, second = await ws.receive_json(), await ws.receive_json()
    assert first["n"] == 1
    assert second == {"client": "hello", "at_once": 0, "where": "set in on_connect"}


async def test_a_handler_sees_the_view_context_and_what_it_sets_stays(
    client: WebSocketClient, group: str, url: str
) -> None:
    async with client.connect(url) as ws:
        await broadcast.publish(group, {"n": 1})
        assert (await ws.receive_json())["where"] == "set in on_connect"
        await broadcast.publish(group, {"n": 2, "set": "set by a handler"})
        assert (await ws.receive_json())["where"] == "set by a handler"
        await ws.send_json("and now?")
        assert (await ws.receive_json())["where"] == "set by a handler"


async def test_a_handler_publishing_to_its_own_group_is_not_reentered(
    client: WebSocketClient, group: str, url: str
) -> None:
    async with client.connect(url) as ws:
        await broadcast.publish(group, {"n": 0, "again": 5})
        replies = [await ws.receive_json() for _ in range(6)]
    # Each handler publishes the next message before it sends its own reply.
    assert sorted(reply["n"] for reply in replies) == list(range(6))
    assert {reply["at_once"] for reply in replies} == {1}


@pytest.mark.parametrize("wait", [0, 0.01], ids=["at-once", "after-waiting"])
async def test_a_handler_that_raises_closes_with_1011(
    client: WebSocketClient, group: str, url: str, wait: float
) -> None:
    async with client.connect(url) as ws:
        await broadcast.publish(group, {"n": 1, "fail": True, "wait": wait})
        assert await ws.wait_closed() == 1011
    assert Handlers.disconnects == [1011]


async def test_messages_published_while_a_handler_fails_are_not_handled(
    client: WebSocketClient, group: str, url: str
) -> None:
    async with client.connect(url) as ws:
        await broadcast.publish(group, {"n": 1, "fail": True, "wait": 0.02})
        await broadcast.publish(group, {"n": 2})
        assert await ws.wait_closed() == 1011


@pytest.mark.skipif(sys.version_info < (3, 12), reason="Task.get_context came in Python 3.12")
async def test_a_publisher_sharing_the_view_context_wakes_the_view(
    client: WebSocketClient, url: str
) -> None:
    """The view's context is entered by the publisher: the message goes to the view's task."""
    async with client.connect(url + "?publish_in_my_context") as ws:
        reply = await ws.receive_json()
        assert (reply["n"], reply["in_view_task"]) == (1, True)
        await ws.send_json("still there?")
        assert (await ws.receive_json())["client"] == "still there?"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks came in Python 3.12")
async def test_an_idle_view_is_not_woken_for_its_handler(
    client: WebSocketClient, group: str, url: str
) -> None:
    async with client.connect(url) as ws:
        for n in range(3):
            await asyncio.sleep(0.01)  # the view now waits, nothing queued
            await broadcast.publish(group, {"n": n})
            assert (await ws.receive_json())["in_view_task"] is False
        # Two at once: the second waits in the queue, for the view's own task.
        await broadcast.publish(group, {"n": 3, "wait": 0.01})
        await broadcast.publish(group, {"n": 4})
        assert (await ws.receive_json())["in_view_task"] is False
        assert (await ws.receive_json())["in_view_task"] is True
