"""Presence at Redis: a hash and a sorted set per group, changed by scripts.

For group ``g``, ``PREFIX + g + "|presence"`` maps each entry to its member
(key and meta, as JSON), and ``PREFIX + g + "|presence-expiry"`` gives each
entry its expiry, on Redis's clock. Each script changes both and publishes
the join or leave events on the group's channel, atomically. Renewing an
entry that is gone (swept while its process was cut off, or lost in a Redis
restart) adds it again, with a join event: presence comes back by itself.
Both keys expire twice the timeout after the last change, so a group whose
processes all died leaves nothing behind.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio

_NOW = """
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
"""
_KEEP = """
redis.call('PEXPIRE', KEYS[1], 2 * timeout)
redis.call('PEXPIRE', KEYS[2], 2 * timeout)
"""

# KEYS: members, expiries. ARGV: channel, timeout (ms), then entry, member pairs.
ADD = (
    _NOW
    + """
local timeout = tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
    if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
        redis.call('PUBLISH', ARGV[1], 'Ejoin ' .. ARGV[i + 1])
    end
    redis.call('ZADD', KEYS[2], ms + timeout, ARGV[i])
end
"""
    + _KEEP
)

# KEYS: members, expiries. ARGV: channel, entry.
REMOVE = """
local member = redis.call('HGET', KEYS[1], ARGV[2])
if member then
    redis.call('HDEL', KEYS[1], ARGV[2])
    redis.call('PUBLISH', ARGV[1], 'Eleave ' .. member)
end
redis.call('ZREM', KEYS[2], ARGV[2])
"""

# KEYS: members, expiries. ARGV: channel. Returns the members left.
READ = (
    _NOW
    + """
for _, entry in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ms)) do
    local member = redis.call('HGET', KEYS[1], entry)
    if member then
        redis.call('HDEL', KEYS[1], entry)
        redis.call('PUBLISH', ARGV[1], 'Eleave ' .. member)
    end
    redis.call('ZREM', KEYS[2], entry)
end
return redis.call('HVALS', KEYS[1])
"""
)


class RedisPresence:
    """The presence scripts, registered with a client."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str, timeout: float) -> None:
        self.prefix = prefix
        self.timeout_ms = max(1, round(timeout * 1000))
        self._add = client.register_script(ADD)
        self._remove = client.register_script(REMOVE)
        self._read = client.register_script(READ)

    def _keys(self, group: str) -> list[str]:
        return [f"{self.prefix}{group}|presence", f"{self.prefix}{group}|presence-expiry"]

    async def add(self, group: str, channel: str, members: dict[str, str]) -> None:
        """Add (or renew) *members*, by entry."""
        pairs: list[Any] = [item for pair in members.items() for item in pair]
        await self._add(self._keys(group), [channel, self.timeout_ms, *pairs])

    async def remove(self, group: str, channel: str, entry: str) -> None:
        await self._remove(self._keys(group), [channel, entry])

    async def read(self, group: str, channel: str) -> list[str]:
        members = await self._read(self._keys(group), [channel])
        return [bytes(member).decode() for member in members]
