"""What the Redis and PostgreSQL backends share: one listening connection per process,
kept alive by a supervisor that reconnects with capped, jittered exponential backoff.

The listening connection is opened at the first join. Each session (one
connection's life) subscribes to the channel of every group joined so far,
then follows the joins and leaves through a FIFO of commands, so that the
broker sees them in the order they happened. When the connection is lost,
the subscriptions stay as they are and the next session subscribes again;
messages published in between are lost (at most once), unless their group
keeps a history: then the sequencer recovers them, or marks the gap.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from django_asgi_ws.broadcast.backoff import Backoff
from django_asgi_ws.broadcast.base import Backend
from django_asgi_ws.broadcast.cancellation import cancel_and_wait, run_with_timeout
from django_asgi_ws.broadcast.encoding import ORIGIN_TAG, split_origin, with_origin
from django_asgi_ws.broadcast.errors import BroadcastError
from django_asgi_ws.broadcast.history import HistoryRead, Position
from django_asgi_ws.broadcast.sequencing import Sequencer

logger = logging.getLogger("django_asgi_ws.broadcast")


@dataclass
class Command:
    """Subscribe to or unsubscribe from one channel, in FIFO order with the others."""

    subscribe: bool
    channel: str
    done: asyncio.Future[None] | None = field(default=None, compare=False)


def resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


class BrokerBackend(Backend):
    """A backend with a broker: subclasses provide the channel names and ``_session``."""

    #: Seconds before the first reconnection attempt, and the most between two.
    reconnect_initial_delay = 0.1
    reconnect_max_delay = 10.0
    #: Seconds of silence after which the listening connection is checked.
    health_check_interval = 15.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reconnections = 0
        self._channels: dict[str, str] = {}  # channel -> group
        self._ready: dict[str, asyncio.Future[None]] = {}  # group -> subscribed at the broker
        self._commands: deque[Command] = deque()
        self._command_added = asyncio.Event()
        self._connected = asyncio.Event()
        self._active = False  # a session is connected and takes commands
        self._failures = 0  # consecutive sessions that failed or were lost
        self._supervisor: asyncio.Task[None] | None = None
        self._sequencer = self._new_sequencer()
        #: This process among those publishing to the broker: what it publishes
        #: comes back to it marked with this, and is dropped (see _publish_frame).
        self.origin = secrets.token_hex(8).encode("ascii")

    def _new_sequencer(self) -> Sequencer:
        return Sequencer(self._deliver, self._deliver_gap, self._read_for_sequencer)

    async def _read_for_sequencer(self, group: str, after: Position | None) -> HistoryRead:
        policy = self.history.policy_for(group)
        assert policy is not None  # the sequencer only has groups with history
        return await self._read_history(group, policy, after)

    @property
    def sequencer(self) -> Sequencer:
        """What keeps the groups with history in order and recovers their gaps."""
        return self._sequencer

    def channel_name(self, group: str) -> str:
        """The broker's channel for *group*."""
        raise NotImplementedError

    @property
    def broker(self) -> str:
        """The broker, for messages: kind and address, never a password."""
        raise NotImplementedError

    @property
    def connected(self) -> bool:
        """Whether the listening connection is up and subscribed."""
        return self._connected.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Return once the listening connection is up (TimeoutError after *timeout*)."""
        if timeout is None:
            await self._connected.wait()
        else:
            await run_with_timeout(self._connected.wait(), timeout)

    def unreachable(self, exc: BaseException) -> BroadcastError:
        return BroadcastError(
            f"{self.broker} is unreachable ({type(exc).__name__}: {exc}): publishing "
            "fails and subscriptions wait until it is back. Check that the broker runs "
            "and that WEBSOCKET_BROADCAST points to it."
        )

    def publish_error(self, group: str, exc: BaseException) -> BroadcastError:
        return BroadcastError(
            f"Cannot publish to group {group!r}: {self.broker} failed "
            f"({type(exc).__name__}: {exc}). The message was not sent. Check that the "
            "broker runs and that WEBSOCKET_BROADCAST points to it; subscriptions "
            "reconnect by themselves once it is back."
        )

    # Lifecycle ----------------------------------------------------------------

    def _forget_state(self) -> None:
        super()._forget_state()
        self._channels.clear()
        self._ready.clear()
        self._commands.clear()
        self._command_added = asyncio.Event()
        self._connected = asyncio.Event()
        self._active = False
        self._failures = 0
        self._supervisor = None
        self._sequencer = self._new_sequencer()

    async def _close(self) -> None:
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            await cancel_and_wait(supervisor)
        await self._sequencer.aclose()
        self._forget_state()

    # Groups -------------------------------------------------------------------

    def _group_added(self, group: str) -> None:
        channel = self.channel_name(group)
        self._channels[channel] = group
        if self.history.policy_for(group) is not None:
            self._sequencer.add(group)
        if self._supervisor is None:
            self._supervisor = asyncio.ensure_future(self._supervise())
        if self._active:
            ready = asyncio.get_running_loop().create_future()
            self._ready[group] = ready
            self._add_command(Command(True, channel, ready))

    def _group_removed(self, group: str) -> None:
        channel = self.channel_name(group)
        self._channels.pop(channel, None)
        self._sequencer.remove(group)
        resolve(self._ready.pop(group, None))
        if self._active:
            self._add_command(Command(False, channel))

    async def _group_ready(self, group: str) -> None:
        await self._subscribed(group)
        if self.connected and group in self._sequencer:
            await self._sequencer.joined(group)

    async def _subscribed(self, group: str) -> None:
        """Return once *group* is subscribed at the broker, or it cannot be now."""
        if not self._active:
            # Wait for the first connection of all, but not during an outage:
            # the next session subscribes to every group anyway.
            if self._failures == 0 and not self.connected:
                connected = asyncio.ensure_future(self._connected.wait())
                try:
                    await asyncio.wait({connected}, timeout=self.timeout)
                finally:
                    await cancel_and_wait(connected)
            return
        ready = self._ready.get(group)
        if ready is not None and not ready.done():
            await asyncio.wait({ready}, timeout=self.timeout)
            if not ready.done():
                logger.warning(
                    "%s did not confirm the subscription to group %r within %g s.",
                    self.broker,
                    group,
                    self.timeout,
                )

    def _add_command(self, command: Command) -> None:
        self._commands.append(command)
        self._command_added.set()

    def _next_command(self) -> Command | None:
        """For sessions: the oldest command not yet sent, taken off the FIFO; None if none."""
        if self._commands:
            return self._commands.popleft()
        self._command_added.clear()
        return None

    async def _wait_for_command(self) -> None:
        """For sessions: return once a command waits (at once if one already does)."""
        await self._command_added.wait()

    def _group_for(self, channel: str) -> str | None:
        """For sessions: the group whose messages *channel* carries; None if none is joined."""
        return self._channels.get(channel)

    def _frame_received(self, channel: str, frame: bytes) -> None:
        group = self._group_for(channel)
        if group is not None:
            self._group_frame(group, frame)

    async def _publish_frame(self, group: str, frame: bytes) -> str | None:
        """Deliver to this process's subscribers first, then publish through the broker.

        For a group without history: the subscribers of this process need not
        wait for the broker's round trip, and the broker's copy, marked with
        this process's origin, is dropped when it comes back. While the broker
        is known to be down, nobody receives the message and the publish
        fails, as for a group with history, which waits for the broker (it
        numbers its messages).
        """
        if self.history.policy_for(group) is not None:
            return await super()._publish_frame(group, frame)
        await self.open()
        if not self.connected:
            # Down: the publish below fails, and no subscriber may have the message.
            await self._publish(group, frame)
            return None
        self._deliver(group, frame)
        try:
            await self._publish(group, with_origin(self.origin, frame))
        except BroadcastError as exc:
            cause = exc.__cause__ or exc
            raise BroadcastError(
                f"Cannot publish to group {group!r} beyond this process: {self.broker} "
                f"failed ({type(cause).__name__}: {cause}). Only the subscribers of this "
                "process received the message."
            ) from cause
        return None

    def _group_frame(self, group: str, frame: bytes) -> None:
        """For sessions: a message of *group* arrived."""
        if frame[:1] == ORIGIN_TAG:
            try:
                origin, frame = split_origin(frame)
            except ValueError as exc:
                logger.warning("Skipped a malformed message in group %r: %s", group, exc)
                return
            if origin == self.origin:
                return  # delivered here when it was published
        if group in self._sequencer:
            self._sequencer.received(group, frame)
        else:
            self._deliver(group, frame)

    # Sessions -----------------------------------------------------------------

    def _session_started(self) -> list[tuple[str, asyncio.Future[None]]]:
        """Mark the session active; return the channels to subscribe, with their futures.

        Called once the connection is up, before subscribing: from now on, joins
        send their own commands, and the commands queued before are obsolete.
        """
        self._active = True
        for command in self._commands:
            resolve(command.done)
        self._commands.clear()
        loop = asyncio.get_running_loop()
        snapshot = []
        for channel, group in self._channels.items():
            ready = loop.create_future()
            resolve(self._ready.get(group))
            self._ready[group] = ready
            snapshot.append((channel, ready))
        return snapshot

    def _session_subscribed(self) -> None:
        """The channels of the snapshot are subscribed: the session is fully connected."""
        if self._failures:
            logger.info("Reconnected to %s.", self.broker)
            self.reconnections += 1
            self._sequencer.reconnected()
        self._failures = 0
        self._connected.set()

    def _session_ended(self) -> None:
        self._active = False
        self._connected.clear()
        for command in self._commands:
            resolve(command.done)
        self._commands.clear()
        for ready in self._ready.values():
            resolve(ready)

    async def _session(self) -> None:
        """Connect, subscribe, receive until the connection fails (raise), never return."""
        raise NotImplementedError

    async def _session_lost(self) -> None:
        """Hook: the listening connection failed, so idle publishing ones likely did too."""

    async def _supervise(self) -> None:
        backoff = Backoff(self.reconnect_initial_delay, self.reconnect_max_delay)
        while True:
            error: BaseException = RuntimeError("the session ended")
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = exc
            finally:
                self._session_ended()
            try:
                await self._session_lost()
            except Exception:
                logger.debug("Could not drop the idle connections", exc_info=True)
            if self._failures == 0:  # connected until now: start the backoff over
                backoff.reset()
            self._failures += 1
            delay = backoff.next()
            # The first failure, then one in ten, at WARNING: an outage logs little.
            level = logging.WARNING if self._failures % 10 == 1 else logging.DEBUG
            logger.log(
                level,
                "Broadcast connection to %s failed (%s: %s); reconnecting in %.2f s.",
                self.broker,
                type(error).__name__,
                error,
                delay,
            )
            await asyncio.sleep(delay)
