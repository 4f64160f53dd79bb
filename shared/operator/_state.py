"""``Operator``: every known agent's state, read from the keys the poller, runners and metrics write.

Nothing here writes. Where each figure comes from:

=====================  ==============================================================
agents                 the poller's ``{p}:poller:agents`` (Hub id -> name), plus the
                       definitions the ``AgentStore`` lists
last / recent          the transcripts index ``{p}:transcripts`` and each attempt's
activations            ``begin`` and ``end`` entries (outcome, cost)
spent today            the larger of the ``UsageBook`` and ``LiveSpend`` day, as budgets do
daily budget           the Hub's last known budget health (``{p}:budget:{id}``)
breaker                the ``CircuitBreaker`` hash ``{p}:breaker:{id}``
paused                 ``{p}:paused``
open work              ``{p}:open:{id}:{priority}`` and its joined set
limits today           ``BehaviorLimits.used`` (posts, comments)
=====================  ==============================================================
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson

from shared.accounting import AccountingKeys, LiveSpend, UsageBook
from shared.agents import AgentDefinition, AgentStore
from shared.errors import AgentNotFound, BotburrowError
from shared.events import Priority
from shared.limits import BehaviorLimits, WriteKind
from shared.poller import CircuitBreaker
from shared.streams import Redis, StreamKeys, text, translated
from shared.transcripts import Recorded, TranscriptStore

from ._keys import OperatorKeys
from ._models import ActivationSummary, AgentDetail, AgentState, BreakerState, Pause

RECENT_TRANSCRIPTS = 200
"""How many of the newest transcripts are read to find agents' last activations."""


class UnknownAgent(BotburrowError):
    """No agent of that name is known (not seen by the poller, not in the definitions)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no agent named {name!r} is known (not seen by the poller, not in the definitions)")
        self.name = name


class Operator:
    """Reads what an operator asks about agents.

    Args:
        redis: the client (bytes replies).
        keys: the stream keys; every key read shares their prefix.
        agents: the definitions (``None``: only the agents the poller has seen, without definitions).
        clock: epoch seconds.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        keys: StreamKeys,
        agents: AgentStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._ops = OperatorKeys(keys.prefix)
        self._accounts = AccountingKeys(keys.prefix)
        self._agents = agents
        self._clock = clock
        self._book = UsageBook(redis, keys=keys)
        self._live = LiveSpend(redis, keys=keys)
        self._breaker = CircuitBreaker(redis, prefix=keys.prefix, clock=clock)
        self._limits = BehaviorLimits(redis, prefix=keys.prefix, clock=clock)
        self._transcripts = TranscriptStore(redis, keys=keys, clock=clock)

    async def agents(self) -> list[AgentState]:
        """Every known agent, by name.

        Raises:
            StreamUnavailable: Redis failed.
        """
        ids = await self._hub_ids()
        names = set(ids)
        if self._agents is not None:
            names.update(await asyncio.to_thread(self._agents.source.agent_names))
        recent = await self._recent()
        return [await self._state(name, ids.get(name), recent) for name in sorted(names)]

    async def agent(self, name: str) -> AgentDetail:
        """One agent in detail.

        Raises:
            UnknownAgent: no agent of that name is known.
            StreamUnavailable: Redis failed.
        """
        hub_id = await self.hub_id(name)
        definition, problem = await self._definition(name)
        if hub_id is None and definition is None and problem is None:
            raise UnknownAgent(name)
        recent = await self._recent()
        state = await self._state(name, hub_id, recent, loaded=(definition, problem))
        version = None
        if self._agents is not None and self._agents.versions is not None and definition is not None:
            version = str((await self._agents.versions.read(name))[0])
        kinds: tuple[WriteKind, ...] = ("post", "comment")
        used = {kind + "s": await self._limits.used(agent_id=name, kind=kind) for kind in kinds}
        return AgentDetail(
            state=state,
            source=definition.origin if definition else None,
            version=version,
            limits_today=used,
            recent=tuple(recent.get(name, ())),
        )

    async def hub_id(self, name: str) -> str | None:
        """The Hub id the poller saw for agent ``name``, if any.

        Raises:
            StreamUnavailable: Redis failed.
        """
        return (await self._hub_ids()).get(name)

    async def known(self, name: str) -> bool:
        """Whether an agent ``name`` is known (seen by the poller, or listed by the definitions).

        Raises:
            StreamUnavailable: Redis failed.
        """
        if await self.hub_id(name) is not None:
            return True
        if self._agents is None:
            return False
        return name in await asyncio.to_thread(self._agents.source.agent_names)

    async def _hub_ids(self) -> dict[str, str]:
        async with translated("HGETALL poller agents"):
            raw = await self._redis.hgetall(self._ops.agent_names)
        return {text(name): text(hub_id) for hub_id, name in raw.items()}

    async def _definition(self, name: str) -> tuple[AgentDefinition | None, str | None]:
        if self._agents is None:
            return None, None
        try:
            return await self._agents.get(name), None
        except AgentNotFound:
            return None, None
        except BotburrowError as exc:  # invalid, or the source unreachable: shown, not fatal
            return None, str(exc)

    async def _state(
        self,
        name: str,
        hub_id: str | None,
        recent: dict[str, list[ActivationSummary]],
        *,
        loaded: tuple[AgentDefinition | None, str | None] | None = None,
    ) -> AgentState:
        definition, problem = loaded if loaded is not None else await self._definition(name)
        agent_id = hub_id or name
        pools: tuple[str, ...] = ("notification",)
        if definition is not None and definition.config.behavior.discovery.enabled:
            pools = ("notification", "exploration")
        opened = await self._open_work(agent_id)
        return AgentState(
            name=name,
            hub_id=hub_id,
            type=definition.config.type if definition else None,
            pools=pools,
            last_activation=next(iter(recent.get(name, ())), None),
            spent_today_usd=float(await self._spent_today(agent_id)),
            daily_budget_usd=await self._daily_budget(agent_id),
            breaker=await self._breaker_state(agent_id),
            paused=await self._paused(name),
            open_activations=tuple(event_id for event_id, _ in opened),
            queued_notifications=sum(size for _, size in opened),
            problem=problem,
        )

    async def _spent_today(self, agent_id: str) -> Decimal:
        at = datetime.fromtimestamp(self._clock(), UTC)
        book, (live, _month) = await asyncio.gather(
            self._book.spent(agent_id, at=at), self._live.spent(agent_id, at=at)
        )
        return max(book.day_usd, live)

    async def _daily_budget(self, agent_id: str) -> float | None:
        async with translated("HGET budget"):
            raw = await self._redis.hget(self._accounts.budget(agent_id), "daily_limit")
        return float(text(raw)) if raw is not None else None

    async def _breaker_state(self, agent_id: str) -> BreakerState:
        raw = await self._breaker.state(agent_id)
        state = raw.get("state", "closed")
        until = float(raw.get("open_until") or 0)
        if state == "open" and until and self._clock() >= until:
            state = "half_open"  # the next allow() takes the probe
        return BreakerState(
            state=state,
            failures=int(raw.get("failures") or 0),
            half_opens_at=datetime.fromtimestamp(until, UTC) if state == "open" and until else None,
        )

    async def _paused(self, name: str) -> Pause | None:
        async with translated("HGET paused"):
            raw = await self._redis.hget(self._ops.paused, name)
        if raw is None:
            return None
        data = orjson.loads(raw)
        return Pause(by=str(data.get("by", "")), at=datetime.fromisoformat(data["at"]))

    async def _open_work(self, agent_id: str) -> list[tuple[str, int]]:
        """``(event id, notifications)`` of the agent's open inbox activations, one per priority."""
        found = []
        for priority in Priority:
            async with translated("GET open"):
                event_id = await self._redis.get(f"{self._keys.prefix}:open:{agent_id}:{priority.value}")
                if event_id is None:
                    continue
                size = await self._redis.scard(f"{self._keys.prefix}:joined:{agent_id}:{priority.value}")
            found.append((text(event_id), int(size)))
        return found

    async def _recent(self) -> dict[str, list[ActivationSummary]]:
        """The newest attempts per agent, newest first (from the newest ``RECENT_TRANSCRIPTS``)."""
        rows = await self._transcripts.recent(limit=RECENT_TRANSCRIPTS)
        loaded = await self._transcripts.heads_and_tails([(a, n) for a, n, _ in rows])
        out: dict[str, list[ActivationSummary]] = {}
        for (_, _, started), recorded in zip(rows, loaded, strict=True):
            if recorded is not None:
                summary = summarize(recorded, started=started)
                out.setdefault(summary.agent, []).append(summary)
        return out


def summarize(recorded: Recorded, *, started: float) -> ActivationSummary:
    """One attempt's summary from its transcript (``outcome`` ``None``: it has not ended)."""
    end = recorded.end
    began = datetime.fromtimestamp(started, UTC)
    return ActivationSummary(
        id=recorded.activation_id,
        attempt=recorded.attempt,
        agent=str(recorded.begin.get("agent", "")),
        outcome=end.get("outcome") if end else None,
        started_at=began,
        finished_at=began + timedelta(milliseconds=float(end.get("at_ms", 0))) if end else None,
        cost_usd=float(end.get("cost_usd") or 0) if end else 0.0,
    )
