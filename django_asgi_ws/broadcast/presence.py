"""Who is in a group, across processes: tracked entries kept alive by heartbeats.

A subscription tracks itself in a group under a key (a user id, say) with a
JSON-serialisable meta: an *entry*, stored at the broker with an expiry
``PRESENCE_TIMEOUT`` seconds ahead. The process renews its entries every
third of that, so that the entries of a process that died without cleaning
up (killed, out of memory, its machine gone) disappear within the timeout.
Reading a group's presence, and each heartbeat, sweeps the expired entries.

Adding an entry publishes a ``join`` event to the group, removing or
sweeping one a ``leave`` event: frames ``b"E" + event + b" " + member`` on the
group's channel, so that they arrive in order with its messages, to the
subscriptions that asked for them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any, Literal

from django.core.serializers.json import DjangoJSONEncoder

from django_asgi_ws.broadcast.cancellation import cancel_and_wait, run_with_timeout
from django_asgi_ws.broadcast.errors import BroadcastError
from django_asgi_ws.broadcast.options import validate_group

logger = logging.getLogger("django_asgi_ws.broadcast")

EVENT_TAG = b"E"
PresenceEvent = Literal["join", "leave"]
#: The most a member (key and meta, as JSON) may take: it travels in a NOTIFY.
MEMBER_MAX_LENGTH = 4000


def member_json(key: str, meta: Any, entry: str) -> str:
    """The stored form of an entry: ASCII JSON of its id, key and meta; ValueError if unfit.

    The id travels with the key and meta in the join and leave events, so that
    a client that also read the group's presence applies each event once.
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"A presence key must be a non-empty str, not {key!r}.")
    try:
        text = json.dumps(
            {"entry": entry, "key": key, "meta": meta},
            cls=DjangoJSONEncoder,
            separators=(",", ":"),
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The presence meta must be JSON-serialisable ({exc}).") from exc
    if len(text) > MEMBER_MAX_LENGTH:
        raise ValueError(
            f"The presence key and meta take {len(text)} characters as JSON; "
            f"the limit is {MEMBER_MAX_LENGTH}."
        )
    return text


def event_frame(event: PresenceEvent, member: str) -> bytes:
    return EVENT_TAG + event.encode() + b" " + member.encode()


def parse_event(frame: bytes) -> tuple[PresenceEvent, dict[str, Any]]:
    """The event and the member a presence frame carries; ValueError if malformed."""
    name, space, member = frame[1:].partition(b" ")
    if not space or name not in (b"join", b"leave"):
        raise ValueError(f"Malformed presence event {frame[:20]!r}.")
    data = json.loads(member)
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        raise ValueError(f"Malformed presence member {member[:40]!r}.")
    event: PresenceEvent = "join" if name == b"join" else "leave"
    return event, {"entry": data.get("entry"), "key": data["key"], "meta": data.get("meta")}


class Tracking:
    """The presence half of :class:`~django_asgi_ws.broadcast.Backend`.

    Backends implement ``_presence_add``, ``_presence_remove``,
    ``_presence_renew`` and ``_presence_read``.
    """

    timeout: float
    presence_timeout: float
    _tracked: dict[str, tuple[str, str]]  # entry -> (group, member)
    _heartbeat: asyncio.Task[None] | None

    async def open(self) -> None:
        """Bind the backend to the running event loop (see Backend.open)."""
        raise NotImplementedError

    async def track(self, group: str, key: str, meta: Any = None) -> str:
        """Add an entry for *key* to *group*'s presence; its id, for :meth:`untrack`."""
        group = validate_group(group)
        entry = uuid.uuid4().hex
        member = member_json(key, meta, entry)
        await self.open()
        await self._presence_add(group, entry, member)
        self._tracked[entry] = (group, member)
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.ensure_future(self._beat())
        return entry

    async def untrack(self, entry: str) -> None:
        """Remove the entry :meth:`track` returned (nothing if it is gone already)."""
        tracked = self._tracked.pop(entry, None)
        if tracked is not None:
            await self._presence_remove(tracked[0], entry)

    async def presence(self, group: str) -> dict[str, list[Any]]:
        """Who is in *group*, in every process: each key with the metas of its entries."""
        present: dict[str, list[Any]] = {}
        for member in (await self.presence_entries(group)).values():
            present.setdefault(member["key"], []).append(member["meta"])
        return present

    async def presence_entries(self, group: str) -> dict[str, dict[str, Any]]:
        """*group*'s entries in every process: ``{entry id: {"key": ..., "meta": ...}}``.

        The ids are those the join and leave events carry (``data["entry"]``).
        """
        group = validate_group(group)
        await self.open()
        entries: dict[str, dict[str, Any]] = {}
        for member in await self._presence_read(group):
            data = json.loads(member)
            entries[data["entry"]] = {"key": data["key"], "meta": data["meta"]}
        return entries

    async def _beat(self) -> None:
        """Renew this process's entries, and sweep their groups, every third of the timeout."""
        while True:
            await asyncio.sleep(self.presence_timeout / 3)
            by_group: dict[str, dict[str, str]] = {}
            for entry, (group, member) in self._tracked.items():
                by_group.setdefault(group, {})[entry] = member
            try:
                await self._presence_renew(by_group)
                for group in by_group:
                    await self._presence_read(group)
            except BroadcastError as exc:
                logger.debug("Presence heartbeat failed: %s", exc)

    async def _stop_tracking(self) -> None:
        """Stop the heartbeat and remove this process's entries (as far as the broker answers)."""
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            await cancel_and_wait(heartbeat)
        entries, self._tracked = self._tracked, {}
        for entry, (group, _) in entries.items():
            try:
                await run_with_timeout(self._presence_remove(group, entry), self.timeout)
            except (BroadcastError, asyncio.TimeoutError):
                break  # they expire by themselves

    async def _presence_add(self, group: str, entry: str, member: str) -> None:
        """Backend hook: store *entry* (expiring) and publish its ``join`` event."""
        raise NotImplementedError

    async def _presence_remove(self, group: str, entry: str) -> None:
        """Backend hook: delete *entry* and publish its ``leave`` event, if it was there."""
        raise NotImplementedError

    async def _presence_renew(self, members: dict[str, dict[str, str]]) -> None:
        """Backend hook: push back the expiry of these entries (group -> entry -> member).

        An entry that is gone meanwhile (swept, lost by the broker) is added
        again, with its join event.
        """
        raise NotImplementedError

    async def _presence_read(self, group: str) -> list[str]:
        """Backend hook: sweep *group*'s expired entries (``leave`` events); the members left."""
        raise NotImplementedError
