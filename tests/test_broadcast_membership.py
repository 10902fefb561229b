"""How a subscription and its backend talk (the GroupRegistry and Subscriber protocols),
the bookkeeping of local groups, and a broadcast package free of the websocket layer."""

from __future__ import annotations

import asyncio
import logging
import pickle
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator

import pytest

import django_asgi_ws
from django_asgi_ws.broadcast import SubscriberTooSlow, Subscription
from django_asgi_ws.broadcast.backends.memory import MemoryBackend
from django_asgi_ws.broadcast.broker import BrokerBackend, Command
from django_asgi_ws.broadcast.membership import Delivery, LocalGroups, Message, Subscriber
from django_asgi_ws.broadcast.options import OverflowPolicy


class Recorder:
    """A Subscriber that records what its backend does to it."""

    queue_size = 1
    dropped = 0

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.ended = False

    def put(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)

    def backend_closed(self) -> None:
        self.ended = True


class HookRecorder(MemoryBackend):
    """The memory backend, recording the hooks a broker backend subscribes with."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[tuple[str, str]] = []

    def _group_added(self, group: str) -> None:
        self.hooks.append(("added", group))

    def _group_removed(self, group: str) -> None:
        self.hooks.append(("removed", group))

    async def _group_ready(self, group: str) -> None:
        self.hooks.append(("ready", group))


class RegistryRecorder:
    """A GroupRegistry recording a subscription's calls; it can fail chosen joins."""

    def __init__(self, fail: str | None = None, *, after_registering: bool = False) -> None:
        self.calls: list[tuple[str, object]] = []
        self.members: set[tuple[Subscriber, str]] = set()
        self.fail = fail
        self.after_registering = after_registering

    async def register(self, subscriber: Subscriber, group: str) -> None:
        self.calls.append(("register", group))
        if group == self.fail and not self.after_registering:
            raise ConnectionError("refused")
        self.members.add((subscriber, group))
        if group == self.fail:
            raise asyncio.CancelledError  # while waiting for the broker's confirmation

    def unregister(self, subscriber: Subscriber, group: str) -> None:
        self.calls.append(("unregister", group))
        self.members.discard((subscriber, group))

    def is_registered(self, subscriber: Subscriber, group: str) -> bool:
        return (subscriber, group) in self.members

    def forget(self, subscriber: Subscriber) -> None:
        self.calls.append(("forget", None))

    def report_dropped(self, subscriber: Subscriber, count: int) -> None:
        self.calls.append(("dropped", count))


def make_subscription(
    registry: RegistryRecorder, *groups: str, overflow: OverflowPolicy = "drop_oldest"
) -> Subscription:
    return Subscription(registry, groups, queue_size=2, overflow=overflow)


# LocalGroups ------------------------------------------------------------------------


def test_local_groups_tell_a_groups_first_and_last_member() -> None:
    groups = LocalGroups()
    first, second = Recorder(), Recorder()
    assert groups.add(first, "g") is True
    assert groups.add(second, "g") is False
    assert set(groups.members("g")) == {first, second}
    assert groups.names == {"g"}
    assert groups.remove(first, "g") is False
    assert groups.remove(first, "g") is False  # no longer a member
    assert groups.remove(second, "g") is True
    assert (groups.names, groups.members("g")) == (frozenset(), [])


def test_local_groups_know_who_is_a_member_of_what() -> None:
    groups = LocalGroups()
    member = Recorder()
    groups.add(member, "g")
    assert groups.has(member, "g")
    assert not groups.has(member, "other")
    assert not groups.has(Recorder(), "g")


def test_end_all_reaches_members_that_left_every_group_but_not_forgotten_ones() -> None:
    groups = LocalGroups()
    stayed, left, forgotten = Recorder(), Recorder(), Recorder()
    for member in (stayed, left, forgotten):
        groups.add(member, "g")
    groups.remove(left, "g")
    groups.remove(forgotten, "g")
    groups.forget(forgotten)
    groups.end_all()
    assert (stayed.ended, left.ended, forgotten.ended) == (True, True, False)
    assert groups.names == frozenset()


# Backend: the GroupRegistry side ----------------------------------------------------


@pytest.fixture
async def backend() -> AsyncIterator[HookRecorder]:
    backend = HookRecorder()
    yield backend
    await backend.close()


@pytest.fixture
async def pair(backend: HookRecorder) -> tuple[Recorder, Recorder]:
    """Two subscribers registered to group "g", in this order."""
    first, second = Recorder(), Recorder()
    await backend.register(first, "g")
    await backend.register(second, "g")
    return first, second


async def test_register_opens_the_backend_and_adds_each_group_at_the_broker_once(
    backend: HookRecorder, pair: tuple[Recorder, Recorder]
) -> None:
    assert backend.is_open
    assert backend.hooks == [("added", "g"), ("ready", "g"), ("ready", "g")]
    assert backend.local_groups == {"g"}


async def test_unregister_removes_the_group_at_the_broker_with_its_last_member(
    backend: HookRecorder, pair: tuple[Recorder, Recorder]
) -> None:
    first, second = pair
    backend.hooks.clear()
    backend.unregister(first, "g")
    backend.unregister(first, "g")  # no longer a member: nothing happens
    assert backend.hooks == []
    backend.unregister(second, "g")
    assert backend.hooks == [("removed", "g")]
    assert backend.local_groups == set()


async def test_is_registered_answers_per_subscriber_and_group(
    backend: HookRecorder, pair: tuple[Recorder, Recorder]
) -> None:
    first, _ = pair
    assert backend.is_registered(first, "g")
    assert not backend.is_registered(first, "other")
    assert not backend.is_registered(Recorder(), "g")
    backend.unregister(first, "g")
    assert not backend.is_registered(first, "g")


async def test_registered_subscribers_receive_and_are_ended_when_the_backend_closes(
    backend: HookRecorder, pair: tuple[Recorder, Recorder]
) -> None:
    member, gone = pair
    backend.unregister(gone, "g")
    await backend.publish("g", {"n": 1})
    assert (member.deliveries, gone.deliveries) == ([("g", {"n": 1}, None, "message")], [])
    await backend.close()
    assert member.ended
    assert gone.ended  # left its groups, but not closed: the backend still ends it


async def test_a_forgotten_subscriber_is_not_ended_when_the_backend_closes(
    backend: HookRecorder, pair: tuple[Recorder, Recorder]
) -> None:
    closed, _ = pair
    backend.unregister(closed, "g")
    backend.forget(closed)
    await backend.close()
    assert not closed.ended


def test_report_dropped_counts_every_drop_and_logs_at_most_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = MemoryBackend()
    subscriber = Recorder()
    backend.report_dropped(subscriber, 3)
    backend.report_dropped(subscriber, 2)
    assert backend.drops.total == 5
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("Dropped 3 broadcast message(s) for subscribers too slow")


# Subscription: the Subscriber side, against any GroupRegistry ------------------------


async def test_a_subscription_joins_leaves_and_closes_through_its_registry() -> None:
    registry = RegistryRecorder()
    async with make_subscription(registry, "a") as joined:
        await joined.join("b")
        await joined.leave("a")
        assert joined.groups == {"b"}
    assert registry.calls == [
        ("register", "a"),
        ("register", "b"),
        ("unregister", "a"),
        ("unregister", "b"),
        ("forget", None),
    ]


@pytest.mark.parametrize(
    ("after_registering", "error", "groups"),
    [
        (False, ConnectionError, frozenset()),  # refused: not joined
        (True, asyncio.CancelledError, {"g"}),  # cancelled once registered: joined
    ],
)
async def test_a_failed_join_keeps_the_group_only_if_the_registry_has_it(
    after_registering: bool, error: type[BaseException], groups: frozenset[str]
) -> None:
    registry = RegistryRecorder(fail="g", after_registering=after_registering)
    joining = make_subscription(registry)
    with pytest.raises(error):
        await joining.join("g")
    assert joining.groups == groups


@pytest.mark.parametrize(
    ("overflow", "pending", "dropped", "reported"),
    [("drop_oldest", 2, 1, [("dropped", 1)]), ("close", 0, 3, [("dropped", 3)])],
)
async def test_put_queues_up_to_queue_size_and_reports_drops_to_the_registry(
    overflow: OverflowPolicy, pending: int, dropped: int, reported: list[tuple[str, object]]
) -> None:
    registry = RegistryRecorder()
    full = make_subscription(registry, overflow=overflow)
    for number in range(3):
        full.put(Message("g", number))
    assert (full.pending, full.dropped, registry.calls) == (pending, dropped, reported)
    if overflow == "close":
        with pytest.raises(SubscriberTooSlow):
            await full.get()
    else:
        assert [await full.get(), await full.get()] == [1, 2]


async def test_backend_closed_ends_the_subscription_without_calling_the_registry() -> None:
    registry = RegistryRecorder()
    ended = make_subscription(registry, "g")
    await ended.__aenter__()
    ended.put(Message("g", "queued"))
    registry.calls.clear()
    ended.backend_closed()
    assert ended.closed
    assert ended.groups == frozenset()
    assert [data async for data in ended] == []
    await ended.close()  # already closed: nothing more
    assert registry.calls == []


# BrokerBackend: what its sessions call ------------------------------------------------


class IdleBroker(BrokerBackend):
    """A broker backend whose session never connects."""

    @property
    def broker(self) -> str:
        return "nowhere"

    def channel_name(self, group: str) -> str:
        return self.prefix + group

    async def _session(self) -> None:
        await asyncio.Event().wait()


async def test_a_session_takes_commands_in_order_and_waits_for_the_next() -> None:
    backend = IdleBroker()
    backend._add_command(Command(True, "a"))
    backend._add_command(Command(False, "a"))
    await asyncio.wait_for(backend._wait_for_command(), 1)  # some wait: at once
    taken = [backend._next_command(), backend._next_command(), backend._next_command()]
    assert taken == [Command(True, "a"), Command(False, "a"), None]
    waiting = asyncio.ensure_future(backend._wait_for_command())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    backend._add_command(Command(True, "b"))
    await asyncio.wait_for(waiting, 1)


async def test_a_session_finds_the_group_of_a_channel() -> None:
    backend = IdleBroker(prefix="p:", timeout=0.05)
    member = Recorder()
    await backend.register(member, "g")
    try:
        assert backend._group_for("p:g") == "g"
        assert backend._group_for("p:other") is None
        backend.unregister(member, "g")
        assert backend._group_for("p:g") is None
    finally:
        await backend.close()


# Errors and layering ----------------------------------------------------------------


def test_subscriber_too_slow_is_a_plain_exception_with_a_close_code_and_reason() -> None:
    exc = SubscriberTooSlow(5)
    assert SubscriberTooSlow.__mro__ == (SubscriberTooSlow, Exception, BaseException, object)
    assert (exc.code, exc.reason, exc.queue_size) == (
        1013,
        "Too slow to receive broadcast messages.",
        5,
    )
    assert str(exc) == "Too slow to receive broadcast messages."
    assert pickle.loads(pickle.dumps(exc)).queue_size == 5


IMPORT_WITHOUT_THE_WEBSOCKET_LAYER = textwrap.dedent(
    """
    import importlib.abc
    import sys
    import types

    ALLOWED = ("django_asgi_ws.broadcast", "django_asgi_ws.conf", "django_asgi_ws.lifespan")

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.startswith("django_asgi_ws.") and not name.startswith(ALLOWED):
                raise ImportError(f"the broadcast package imports {name}")
            return None

    sys.meta_path.insert(0, Refuse())
    # The package without its __init__, which imports the websocket layer.
    package = types.ModuleType("django_asgi_ws")
    package.__path__ = [sys.argv[1]]
    sys.modules["django_asgi_ws"] = package

    import django_asgi_ws.broadcast
    import django_asgi_ws.broadcast.backends.memory
    import django_asgi_ws.broadcast.backends.postgres
    import django_asgi_ws.broadcast.backends.redis
    import django_asgi_ws.broadcast.checks
    """
)


def test_the_broadcast_package_imports_without_the_websocket_layer() -> None:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT_THE_WEBSOCKET_LAYER, django_asgi_ws.__path__[0]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
