"""``BudgetGate``: may an agent spend now? Daily and monthly USD limits, Hub and local accounting.

The rule, in order:

1. Limits come from the Hub's budget health (``GET /system/budget-health``), cached in
   Redis (``{p}:budget:{agent}``) for ``hub_cache_ttl_s`` with the time it was fetched.
2. Used = max(the Hub's used, local spend): local accounting counts what the Hub has not
   been told yet, the Hub counts what other runners spent. Local spend is the larger of
   the ``UsageBook`` (booked by the metrics function per completed activation) and
   ``LiveSpend`` (booked by runners per LLM call), so it holds with metrics stopped.
   The Hub's used figures only count in the UTC day (month) they were fetched in.
3. Refused when used ≥ limit (daily or monthly), or the Hub said ``healthy: false``.
4. Hub unreachable → the last known limits, with a safety margin: refused from
   ``near_limit_ratio`` times the limit on, since the Hub's figures may have moved meanwhile.
5. No limits known at all (the Hub unreachable and never answered) → fail closed near
   the fallback caps: refused once local spend reaches ``near_limit_ratio`` times the
   fallback daily (monthly) cap, allowed below it.

A refusal is an outcome (``budget_exhausted``), never a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import structlog

from shared.errors import BotburrowError
from shared.hub import HubClient
from shared.streams import Redis, SameTurn, StreamKeys, text, translated

from ._book import Spend, UsageBook
from ._keys import MONTH_TTL_S, AccountingKeys
from ._live import LiveSpend
from ._metrics import BudgetMetrics

log = structlog.get_logger("botburrow.accounting")

BUDGET_EXHAUSTED = "budget_exhausted"
"""The activation outcome of a budget refusal."""

CHECKERS = ("poller", "runner")
"""Who may ask (the ``where`` of ``botburrow_budget_checks_total``)."""


@dataclass(frozen=True, kw_only=True)
class BudgetVerdict:
    """Whether the agent may spend now, why, and the figures the answer came from.

    ``source`` says where the limits came from: ``hub`` (fresh), ``cache`` (fetched within
    the cache TTL), ``stale`` (the Hub is unreachable; last known) or ``fallback`` (none known).
    ``reason`` is ``ok``, ``daily_limit``, ``monthly_limit`` or ``hub_unhealthy``.
    """

    allowed: bool
    reason: str
    daily_used_usd: Decimal
    daily_limit_usd: Decimal
    monthly_used_usd: Decimal
    monthly_limit_usd: Decimal
    source: str


@dataclass(frozen=True, kw_only=True)
class _Health:
    daily_limit: Decimal
    daily_used: Decimal
    monthly_limit: Decimal
    monthly_used: Decimal
    healthy: bool
    fetched_at: float

    @classmethod
    def parse(cls, raw: Mapping[bytes | str, bytes | str]) -> _Health | None:
        f = {text(k): text(v) for k, v in raw.items()}
        try:
            return cls(
                daily_limit=Decimal(f["daily_limit"]),
                daily_used=Decimal(f["daily_used"]),
                monthly_limit=Decimal(f["monthly_limit"]),
                monthly_used=Decimal(f["monthly_used"]),
                healthy=f["healthy"] == "1",
                fetched_at=float(f["fetched_at"]),
            )
        except (KeyError, ArithmeticError, ValueError):
            return None

    def fields(self) -> dict[str, str]:
        return {
            "daily_limit": str(self.daily_limit),
            "daily_used": str(self.daily_used),
            "monthly_limit": str(self.monthly_limit),
            "monthly_used": str(self.monthly_used),
            "healthy": "1" if self.healthy else "0",
            "fetched_at": repr(self.fetched_at),
        }


class BudgetGate:
    """Answers "may this agent spend now?" for the poller and the runner.

    Args:
        book: local accounting, per completed activation.
        hub: the Hub client asked for budget health.
        live: local accounting, per LLM call (``None``: the book alone).
        redis: where the Hub's answers are cached.
        keys: the stream keys; the cache shares their prefix.
        clock: seconds since the epoch.
        hub_cache_ttl_s: how long a Hub answer is used before asking again.
        hub_timeout_s: how long one budget check waits for the Hub before using what it knows.
        near_limit_ratio: the margin used when the limits are stale or unknown.
        fallback_daily_limit_usd: the daily cap assumed when no limit was ever known.
        fallback_monthly_limit_usd: the monthly cap assumed when no limit was ever known.
        metrics: budget check counters.
        where: who asks, ``poller`` or ``runner`` (a label of the counter).
    """

    def __init__(
        self,
        *,
        book: UsageBook,
        hub: HubClient,
        redis: Redis,
        keys: StreamKeys,
        live: LiveSpend | None = None,
        clock: Callable[[], float] = time.time,
        hub_cache_ttl_s: float = 60.0,
        hub_timeout_s: float = 5.0,
        near_limit_ratio: float = 0.9,
        fallback_daily_limit_usd: Decimal = Decimal(10),
        fallback_monthly_limit_usd: Decimal = Decimal(200),
        metrics: BudgetMetrics | None = None,
        where: str = "runner",
    ) -> None:
        if not 0 < near_limit_ratio <= 1:
            raise ValueError("near_limit_ratio must be in (0, 1]")
        if where not in CHECKERS:
            raise ValueError(f"where={where!r}: a budget gate is the poller's or the runner's")
        self._book = book
        self._live = live
        self._hub = hub
        self._redis = redis
        self._keys = AccountingKeys(keys.prefix)
        self._clock = clock
        self._ttl_s = hub_cache_ttl_s
        self._hub_timeout_s = hub_timeout_s
        self._ratio = Decimal(str(near_limit_ratio))
        self._fallback = (fallback_daily_limit_usd, fallback_monthly_limit_usd)
        self._metrics = metrics
        self._where = where
        self._shared = SameTurn(self._verdict)

    async def check(self, agent_id: str) -> BudgetVerdict:
        """The verdict for ``agent_id`` now.

        Checks of one agent asked in the same event-loop turn (the conversations of an
        activation, before their first LLM calls) share one read (``SameTurn``), sent
        after all of them asked.

        Raises:
            StreamUnavailable: Redis failed (local spend is unknown; the caller retries).
        """
        verdict = await self._shared(agent_id)
        if self._metrics is not None:
            result = "allowed" if verdict.allowed else "refused"
            self._metrics.checks.labels(result=result, where=self._where, reason=verdict.reason).inc()
        return verdict

    async def _verdict(self, agent_id: str) -> BudgetVerdict:
        now = self._clock()
        at = datetime.fromtimestamp(now, UTC)
        (local_day, local_month), cached = await self._read(agent_id, at)
        health, source = await self._health(agent_id, now, cached)
        if health is None:
            daily_used, monthly_used, healthy, margin = local_day, local_month, True, self._ratio
            daily_limit, monthly_limit = self._fallback
            source = "fallback"
        else:
            fetched = datetime.fromtimestamp(health.fetched_at, UTC)
            same_day = fetched.date() == at.date()
            same_month = (fetched.year, fetched.month) == (at.year, at.month)
            daily_used = max(local_day, health.daily_used if same_day else Decimal(0))
            monthly_used = max(local_month, health.monthly_used if same_month else Decimal(0))
            # Yesterday's "unhealthy" was about yesterday's spend.
            healthy = health.healthy or not same_day
            margin = self._ratio if source == "stale" else Decimal(1)
            daily_limit, monthly_limit = health.daily_limit, health.monthly_limit
        reason = "ok"
        if daily_used >= daily_limit * margin:
            reason = "daily_limit"
        elif monthly_used >= monthly_limit * margin:
            reason = "monthly_limit"
        elif not healthy:
            reason = "hub_unhealthy"
        verdict = BudgetVerdict(
            allowed=reason == "ok",
            reason=reason,
            daily_used_usd=daily_used,
            daily_limit_usd=daily_limit,
            monthly_used_usd=monthly_used,
            monthly_limit_usd=monthly_limit,
            source=source,
        )
        if not verdict.allowed:
            log.info(
                "budget.refused",
                agent_id=agent_id,
                reason=verdict.reason,
                source=verdict.source,
                daily_used_usd=str(verdict.daily_used_usd),
                monthly_used_usd=str(verdict.monthly_used_usd),
            )
        return verdict

    async def _read(self, agent_id: str, at: datetime) -> tuple[tuple[Decimal, Decimal], _Health | None]:
        """Local spend and the cached Hub answer, in one round trip.

        Local spend is the larger of the two books, per period: they count the same calls.
        """
        async with translated("budget reads"), self._redis.pipeline(transaction=False) as pipe:
            self._book.queue_spent(pipe, agent_id, at=at)
            if self._live is not None:
                self._live.queue_spent(pipe, agent_id, at=at)
            pipe.hgetall(self._keys.budget(agent_id))
            replies = await pipe.execute()
        spend = Spend.from_replies(replies[0], replies[1])
        day, month = spend.day_usd, spend.month_usd
        if self._live is not None:
            live_day, live_month = LiveSpend.from_reply(replies[2])
            day, month = max(day, live_day), max(month, live_month)
        return (day, month), _Health.parse(replies[-1])

    async def _health(self, agent_id: str, now: float, cached: _Health | None) -> tuple[_Health | None, str]:
        if cached is not None and now - cached.fetched_at < self._ttl_s:
            return cached, "cache"
        try:
            async with asyncio.timeout(self._hub_timeout_s):
                answer = await self._hub.budget_health(agent_id)
        except (BotburrowError, TimeoutError) as exc:
            log.warning("budget.hub_unknown", agent_id=agent_id, error=type(exc).__name__, cached=cached is not None)
            return cached, "stale"
        fresh = _Health(
            daily_limit=Decimal(str(answer.daily_limit)),
            daily_used=Decimal(str(answer.daily_used)),
            monthly_limit=Decimal(str(answer.monthly_limit)),
            monthly_used=Decimal(str(answer.monthly_used)),
            healthy=answer.healthy,
            fetched_at=now,
        )
        key = self._keys.budget(agent_id)
        async with translated("HSET budget"), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fresh.fields())  # type: ignore[arg-type]
            pipe.expire(key, MONTH_TTL_S)
            await pipe.execute()
        return fresh, "hub"
