"""``UsageBook``: what each agent spent per UTC day and month, counted once per completion event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import structlog

from shared.events import ActivationCompleted
from shared.streams import EffectLedger, Pipeline, Redis, StreamKeys, text, translated

from ._keys import DAY_TTL_S, MONTH_TTL_S, AccountingKeys, from_micro, to_micro
from ._metrics import AccountingMetrics
from ._outbox import ConsumptionOutbox, consumption_of

log = structlog.get_logger("botburrow.accounting")

RECORD_STEP = "usage"
"""The done-marker step of a completion event's accounting (``{p}:done:{event id}:usage``)."""

_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
_OUTCOME = "outcome:"


@dataclass(frozen=True, kw_only=True)
class Totals:
    """One period's aggregate (a day or a month) of one agent."""

    cost_usd: Decimal = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    activations: int = 0
    outcomes: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_hash(cls, raw: Mapping[bytes | str, bytes | str]) -> Totals:
        """Parse a usage hash as ``HGETALL`` returns it (missing fields are zero)."""
        values = {text(k): int(text(v)) for k, v in raw.items()}
        return cls(
            cost_usd=from_micro(values.get("cost_micro_usd", 0)),
            activations=values.get("activations", 0),
            outcomes={k.removeprefix(_OUTCOME): v for k, v in values.items() if k.startswith(_OUTCOME)},
            **{name: values.get(name, 0) for name in _TOKEN_FIELDS},
        )


@dataclass(frozen=True, kw_only=True)
class Spend:
    """An agent's spend in the UTC day and month of a moment."""

    day: Totals
    month: Totals

    @classmethod
    def from_replies(cls, day: Mapping[bytes | str, bytes | str], month: Mapping[bytes | str, bytes | str]) -> Spend:
        """The spend the two replies of ``UsageBook.queue_spent`` give."""
        return cls(day=Totals.from_hash(day), month=Totals.from_hash(month))

    @property
    def day_usd(self) -> Decimal:
        """USD spent that day."""
        return self.day.cost_usd

    @property
    def month_usd(self) -> Decimal:
        """USD spent that month."""
        return self.month.cost_usd


def spent_tokens(completed: ActivationCompleted) -> bool:
    """Whether a completed activation spent anything (such activations are reported to the Hub)."""
    u = completed.usage
    return bool(
        u.input_tokens or u.output_tokens or u.cache_creation_input_tokens or u.cache_read_input_tokens or u.cost_usd
    )


class UsageBook:
    """Per agent/day and agent/month aggregates in Redis hashes, idempotent per completion event.

    Each hash holds ``cost_micro_usd`` (integer micro-dollars: no float drift), the four
    token kinds, ``activations`` and ``outcome:<outcome>`` counts. Day hashes expire after
    40 days, month hashes after 400. With an ``outbox``, a completion that spent tokens is
    queued for the Hub in the same ``MULTI`` as the aggregate update, so the two land together.

    Args:
        redis: the client (bytes replies).
        keys: the stream keys; accounting keys share their prefix.
        ledger: the done-markers making ``record`` idempotent (one on ``redis`` by default).
        outbox: where spending completions are queued for ``POST /system/consumption``.
        metrics: token and cost counters, counted once per recorded event.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        keys: StreamKeys,
        ledger: EffectLedger | None = None,
        outbox: ConsumptionOutbox | None = None,
        metrics: AccountingMetrics | None = None,
        day_ttl_s: int = DAY_TTL_S,
        month_ttl_s: int = MONTH_TTL_S,
    ) -> None:
        self._redis = redis
        self._keys = AccountingKeys(keys.prefix)
        self._ledger = ledger or EffectLedger(redis, keys)
        self._outbox = outbox
        self._metrics = metrics
        self._day_ttl_s = day_ttl_s
        self._month_ttl_s = month_ttl_s

    async def record(
        self, event_id: str, completed: ActivationCompleted, *, at: datetime, task_type: str = "inbox"
    ) -> bool:
        """Add one completed activation to its agent's day and month (at ``at``, UTC).

        Returns True if it was counted now, False if ``event_id`` was counted before.

        Raises:
            StreamUnavailable: Redis failed; nothing or everything landed, and retrying is safe.
            ValueError: ``at`` is naive.
        """
        usage = completed.usage
        micro = to_micro(usage.cost_usd)
        increments = {
            "cost_micro_usd": micro,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_write_tokens": usage.cache_creation_input_tokens,
            "cache_read_tokens": usage.cache_read_input_tokens,
            "activations": 1,
            _OUTCOME + completed.outcome: 1,
        }
        hashes = (
            (self._keys.usage_day(completed.agent_id, at), self._day_ttl_s),
            (self._keys.usage_month(completed.agent_id, at), self._month_ttl_s),
        )
        report = consumption_of(completed, task_type=task_type) if spent_tokens(completed) else None

        def effect(pipe: Pipeline) -> None:
            for key, ttl_s in hashes:
                for name, amount in increments.items():
                    if amount:
                        pipe.hincrby(key, name, amount)
                pipe.expire(key, ttl_s)
            if report is not None and self._outbox is not None:
                self._outbox.stage(pipe, event_id=event_id, agent_id=completed.agent_id, report=report, at=at)

        counted = await self._ledger.once(event_id, RECORD_STEP, effect)
        log.debug(
            "accounting.recorded" if counted else "accounting.duplicate",
            event_id=event_id,
            agent_id=completed.agent_id,
            cost_micro_usd=micro,
            outcome=completed.outcome,
        )
        if counted and self._metrics is not None:
            self._count(completed)
            if report is not None and self._outbox is not None:
                self._metrics.outbox_size.inc()
        return counted

    async def spent(self, agent_id: str, *, at: datetime) -> Spend:
        """The agent's spend in the UTC day and month of ``at``.

        Raises:
            StreamUnavailable: Redis failed.
        """
        async with translated("HGETALL usage"), self._redis.pipeline(transaction=False) as pipe:
            self.queue_spent(pipe, agent_id, at=at)
            day, month = await pipe.execute()
        return Spend.from_replies(day, month)

    def queue_spent(self, pipe: Pipeline, agent_id: str, *, at: datetime) -> None:
        """Queue the two reads of ``spent`` on ``pipe``; their replies make ``Spend.from_replies``."""
        pipe.hgetall(self._keys.usage_day(agent_id, at))
        pipe.hgetall(self._keys.usage_month(agent_id, at))

    async def spenders(self, *, at: datetime, max_agents: int = 10_000) -> dict[str, Spend]:
        """Agent -> spend in the UTC day and month of ``at``, for every agent with a total that month.

        Found by scanning the month hashes (bounded by ``max_agents``), so an agent that spent
        nothing this month is not listed.

        Raises:
            StreamUnavailable: Redis failed.
            ValueError: ``at`` is naive.
        """
        month_key = self._keys.usage_month("\0", at)
        head, _, tail = month_key.partition("\0")
        agents: list[str] = []
        async with translated("SCAN usage"):
            async for key in self._redis.scan_iter(match=f"{head}*{tail}", count=500):
                agents.append(text(key).removeprefix(head).removesuffix(tail))
                if len(agents) >= max_agents:
                    break
            pipe = self._redis.pipeline(transaction=False)
            for agent in agents:
                pipe.hgetall(self._keys.usage_day(agent, at))
                pipe.hgetall(self._keys.usage_month(agent, at))
            replies = await pipe.execute()
        return {
            agent: Spend(day=Totals.from_hash(replies[2 * i]), month=Totals.from_hash(replies[2 * i + 1]))
            for i, agent in enumerate(agents)
        }

    def _count(self, completed: ActivationCompleted) -> None:
        assert self._metrics is not None
        usage, agent = completed.usage, completed.agent_id
        model = usage.model or "unknown"
        by_kind = {
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "cache_write": usage.cache_creation_input_tokens,
            "cache_read": usage.cache_read_input_tokens,
        }
        for kind, tokens in by_kind.items():
            if tokens:
                self._metrics.tokens.labels(agent=agent, model=model, kind=kind).inc(tokens)
        if usage.cost_usd:
            self._metrics.cost_usd.labels(agent=agent, model=model).inc(usage.cost_usd)
        self._metrics.recorded.labels(outcome=completed.outcome).inc()
