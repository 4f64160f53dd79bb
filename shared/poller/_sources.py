"""Where the poller learns who has work: the Hub's long-poll, its plain query, stale agents.

The Hub names agents by id (a uuid on the real Hub) while definitions are named; every
``(id, name)`` pair seen is kept in the hash ``{prefix}:poller:agents`` so a pushed
notification, which carries only the agent's id, finds its definition. An id names the
same agent for good, so each process also keeps the pairs it has seen (at most
``NAMES_KEPT``): a webhook for an agent this process has met costs no round trip.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from shared.agents import is_agent_name
from shared.hub import AgentWork, HubClient, StaleAgent
from shared.streams import Redis, translated

from ._types import PollerOptions

log = structlog.get_logger(__name__)

NAMES_KEPT = 200_000
"""The most ``id → name`` pairs a process keeps in memory (about 200 bytes each); past it they start over."""


class WorkSource:
    """The Hub's view of who has work, with long-poll fallback and the id → name map."""

    def __init__(self, redis: Redis, *, prefix: str, hub: HubClient, options: PollerOptions) -> None:
        self._redis = redis
        self._hub = hub
        self._options = options
        self.names_key = f"{prefix}:poller:agents"
        self.long_poll = True
        self._names: dict[str, str] = {}

    async def agents_with_work(self, *, remaining_s: float) -> list[AgentWork]:
        """Agents with unread notifications: a long-poll of up to ``remaining_s``, else the plain query.

        A 404 from the long-poll switches this source to the plain query for good (the
        tick that made it is short-lived; the next tick tries the long-poll again). A full
        batch (``batch_size`` agents) may leave agents out, and while their activations wait
        unanswered the Hub lists the same ones first every time: the plain query, which lists
        every agent with unread notifications, is asked then too.
        """
        work: list[AgentWork] | None = None
        if self.long_poll:
            timeout_s = round(min(remaining_s, self._options.long_poll_max_s), 3)
            work = await self._hub.poll(timeout_s=timeout_s, batch_size=self._options.batch_size)
            if work is None:
                self.long_poll = False
                log.info("poller.long_poll_unsupported")
        if work is None or len(work) >= self._options.batch_size:
            work = await self._hub.agents_with_notifications()
        await self.remember((w.id, w.name) for w in work)
        return work

    async def stale(self, *, min_staleness_s: float) -> list[StaleAgent]:
        """Agents the Hub has not seen activated for ``min_staleness_s``."""
        agents = await self._hub.stale_agents(min_staleness_s=min_staleness_s)
        await self.remember((a.id, a.name) for a in agents)
        return agents

    async def remember(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Record agent ids and their names."""
        mapping: dict[str | bytes, str | bytes] = dict(pairs)
        if mapping:
            async with translated("HSET poller agents"):
                await self._redis.hset(self.names_key, mapping=mapping)  # type: ignore[arg-type]
            self._keep(mapping.items())

    async def name_of(self, agent_id: str) -> str | None:
        """The name of the agent with id (or name) ``agent_id``; asks the Hub when unknown here."""
        known = self._names.get(agent_id)
        if known is not None:
            return known
        async with translated("HGET poller agents"):
            raw = await self._redis.hget(self.names_key, agent_id)
        if raw is not None:
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            self._keep([(agent_id, name)])
            return name
        for work in await self._hub.agents_with_notifications():
            if agent_id in (work.id, work.name):
                await self.remember([(work.id, work.name)])
                return work.name
        return agent_id if is_agent_name(agent_id) else None

    def _keep(self, pairs: Iterable[tuple[str | bytes, str | bytes]]) -> None:
        if len(self._names) > NAMES_KEPT:
            self._names.clear()
        for agent_id, name in pairs:
            self._names[_text(agent_id)] = _text(name)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
