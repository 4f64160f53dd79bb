"""``LiveSpend``: what runners spent, booked at each LLM call, so budgets hold without the metrics function.

The ``UsageBook`` learns of spend only when the metrics function records a completed
activation; a metrics outage (or a long activation) would let an agent run past its
budget meanwhile. Runners therefore book the cost of every LLM call here as it is
answered (``INCRBY`` of integer micro-USD on ``{p}:spend:{agent}:d:{day}`` and
``…:m:{month}``, one round trip, shared by the calls answered in the same event-loop turn),
and ``BudgetGate`` takes the larger of the two books for each period: they count the
same calls, the live one first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from shared.streams import Pipeline, Redis, StreamKeys, TurnBatch, text, translated

from ._keys import DAY_TTL_S, MONTH_TTL_S, AccountingKeys, from_micro, to_micro


class LiveSpend:
    """Per agent/day and agent/month spend in micro-USD counters, booked call by call."""

    def __init__(self, redis: Redis, *, keys: StreamKeys) -> None:
        self._redis = redis
        self._keys = AccountingKeys(keys.prefix)
        self._bookings = TurnBatch(self._write)

    async def book(self, agent_id: str, usd: Decimal, *, at: datetime) -> None:
        """Add ``usd`` to the agent's day and month of ``at`` (UTC); nothing for zero.

        Raises:
            StreamUnavailable: Redis failed; the call's spend was not booked.
        """
        micro = to_micro(usd)
        if micro <= 0:
            return
        await self._bookings((self._keys.spend_day(agent_id, at), self._keys.spend_month(agent_id, at), micro))

    async def _write(self, bookings: list[tuple[str, str, int]]) -> list[None]:
        """Book the calls answered in one turn (``TurnBatch``): one ``MULTI``, a sum per counter."""
        days: dict[str, int] = {}
        months: dict[str, int] = {}
        for day, month, micro in bookings:
            days[day] = days.get(day, 0) + micro
            months[month] = months.get(month, 0) + micro
        async with translated("INCRBY spend"), self._redis.pipeline(transaction=True) as pipe:
            for counters, ttl_s in ((days, DAY_TTL_S), (months, MONTH_TTL_S)):
                for key, micro in counters.items():
                    pipe.incrby(key, micro)
                    pipe.expire(key, ttl_s)
            await pipe.execute()
        return [None] * len(bookings)

    async def spent(self, agent_id: str, *, at: datetime) -> tuple[Decimal, Decimal]:
        """``(day, month)`` USD booked for the agent in the UTC day and month of ``at``.

        Raises:
            StreamUnavailable: Redis failed.
        """
        async with translated("GET spend"):
            return self.from_reply(await self._redis.mget(self._keys_at(agent_id, at)))

    def queue_spent(self, pipe: Pipeline, agent_id: str, *, at: datetime) -> None:
        """Queue the read of ``spent`` on ``pipe``; its reply makes ``from_reply``."""
        pipe.mget(self._keys_at(agent_id, at))

    @staticmethod
    def from_reply(reply: Sequence[bytes | str | None]) -> tuple[Decimal, Decimal]:
        """``(day, month)`` USD from the reply of the read ``queue_spent`` queued."""
        day, month = reply
        return from_micro(int(text(day))) if day else Decimal(0), from_micro(int(text(month))) if month else Decimal(0)

    def _keys_at(self, agent_id: str, at: datetime) -> list[str]:
        return [self._keys.spend_day(agent_id, at), self._keys.spend_month(agent_id, at)]
