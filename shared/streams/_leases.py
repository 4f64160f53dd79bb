"""Per-agent leases with fencing tokens, acquired per batch and kept alive by heartbeat."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ._keys import StreamKeys
from ._redis import Redis, Scripts


def lease_value(token: int, consumer: str) -> str:
    """What a lease key holds: the fencing token and the consumer that holds it."""
    return f"{token}:{consumer}"


@dataclass(frozen=True, slots=True)
class Holding:
    """Entries of one stream held under one lease (or under none: ``value`` None)."""

    stream: str
    entry_ids: tuple[str, ...]
    lease_key: str | None = None
    value: str | None = None


@dataclass(frozen=True, slots=True)
class HeartbeatResult:
    """What one heartbeat found: the lease gone, or entries another consumer took."""

    holding: Holding
    lease_lost: bool
    lost_ids: tuple[str, ...]


class Leases:
    """Leases on ``<prefix>:lease:agent:<id>`` holding ``<fencing token>:<consumer>``.

    A lease key lives ``ttl_ms``: the reclaim threshold plus a margin, so that when a
    dead runner's entries are reclaimed its leases are still in place and pass to the
    reclaimer, rather than to whichever newer event of the agent asks first.
    """

    def __init__(
        self, redis: Redis, scripts: Scripts, keys: StreamKeys, *, ttl_ms: int, group: str, consumer: str
    ) -> None:
        self._redis = redis
        self._scripts = scripts
        self._keys = keys
        self._ttl_ms = ttl_ms
        self._group = group
        self._consumer = consumer

    async def acquire(self, agents: Sequence[str], takeover: Mapping[str, str]) -> dict[str, int]:
        """Try to take each agent's lease in one round trip; 0 means another holder has it.

        ``takeover`` names, per agent, a consumer whose hold is taken over rather than
        reported busy: this runner itself (a release it sent may not have landed yet),
        or the dead runner whose entries are being reclaimed.
        """
        if not agents:
            return {}
        keys = [self._keys.fence, *(self._keys.lease(a) for a in agents)]
        args = [self._ttl_ms, self._consumer, *(takeover.get(a, "") for a in agents)]
        tokens = await self._scripts.call("acquire", keys, args)
        return {agent: int(token) for agent, token in zip(agents, tokens, strict=True)}

    async def heartbeat(self, holdings: Sequence[Holding]) -> list[HeartbeatResult]:
        """Extend leases and reset entry idle times (``XCLAIM … JUSTID``) in one pipeline."""
        if not holdings:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for h in holdings:
            keys = [h.lease_key or h.stream, h.stream]
            args = [self._group, self._consumer, self._ttl_ms, h.value or "", *h.entry_ids]
            self._scripts.queue(pipe, "heartbeat", keys, args)
        replies = await self._scripts.execute(pipe, "heartbeat")
        results = []
        for h, reply in zip(holdings, replies, strict=True):
            if isinstance(reply, Exception):
                raise reply
            status, *lost = reply
            results.append(HeartbeatResult(h, int(status) == -1, tuple(x.decode() for x in lost)))
        return results
