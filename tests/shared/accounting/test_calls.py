"""CallBudget: each LLM call admitted against the cost cap and the agent's budget, booked as answered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.accounting import Admission, BudgetVerdict, LiveSpend, Refused, Spending, from_micro, to_micro
from shared.errors import StreamUnavailable
from shared.llm import Usage, cost_usd
from shared.streams import Redis, StreamKeys
from tests.shared.accounting.helpers import T0

MODEL = "claude-haiku-4-5"


class Verdicts:
    """A budget that answers what the test sets, and counts how often it was asked."""

    def __init__(self) -> None:
        self.reason = "ok"
        self.fail = False
        self.asked = 0

    async def check(self, agent_id: str) -> BudgetVerdict:
        self.asked += 1
        await asyncio.sleep(0)  # another call may run meanwhile, as with Redis and the Hub
        if self.fail:
            raise StreamUnavailable("redis is down")
        return BudgetVerdict(
            allowed=self.reason == "ok",
            reason=self.reason,
            daily_used_usd=Decimal(12),
            daily_limit_usd=Decimal(10),
            monthly_used_usd=Decimal(12),
            monthly_limit_usd=Decimal(100),
            source="hub",
        )


def _cents(n: str) -> Decimal:
    return Decimal(n) / 100


async def test_a_call_that_could_pass_the_cost_cap_is_refused_before_the_budget_is_asked() -> None:
    verdicts = Verdicts()
    budget = Spending(gate=verdicts).for_activation(agent_id="a1", cost_cap_usd=_cents("10"))
    refused = await budget.admit(worst_usd=_cents("11"))
    assert isinstance(refused, Refused) and refused.reason == "cost_cap" and "cost cap of $0.1 " in refused.detail
    assert verdicts.asked == 0 and budget.in_flight == 0


async def test_calls_side_by_side_cannot_pass_the_cap_together() -> None:
    budget = Spending(gate=Verdicts()).for_activation(agent_id="a1", cost_cap_usd=_cents("10"))
    answers = await asyncio.gather(*(budget.admit(worst_usd=_cents("4")) for _ in range(3)))
    assert [type(a) for a in answers] == [Admission, Admission, Refused]
    assert budget.in_flight == 2
    first = answers[0]
    assert isinstance(first, Admission)
    budget.release(first)  # that call failed with nothing to bill: its room comes back
    assert isinstance(await budget.admit(worst_usd=_cents("4")), Admission)


async def test_the_agents_budget_refuses_a_call_and_gives_its_reservation_back() -> None:
    verdicts = Verdicts()
    verdicts.reason = "daily_limit"
    budget = Spending(gate=verdicts).for_activation(agent_id="a1", cost_cap_usd=Decimal(1))
    refused = await budget.admit(worst_usd=_cents("1"))
    assert isinstance(refused, Refused) and refused.reason == "daily_limit"
    assert refused.detail == "the agent's daily budget is spent ($12 of $10)"
    assert budget.in_flight == 0
    verdicts.fail = True
    with pytest.raises(StreamUnavailable):
        await budget.admit(worst_usd=_cents("1"))
    assert budget.in_flight == 0


async def test_an_answered_call_is_booked_at_once_and_totalled(redis: Redis, keys: StreamKeys) -> None:
    live = LiveSpend(redis, keys=keys)
    budget = Spending(live=live, clock=T0.timestamp).for_activation(agent_id="a1", cost_cap_usd=Decimal(1))
    usage = Usage(input_tokens=1000, output_tokens=200, cache_write_tokens=50, cache_read_tokens=400)
    admission = await budget.admit(worst_usd=_cents("5"))
    assert isinstance(admission, Admission)
    cost = await budget.settle(admission, model=MODEL, usage=usage)
    assert cost == cost_usd(MODEL, usage).usd and cost > 0
    assert (budget.spent_usd, budget.calls, budget.model, budget.in_flight) == (cost, 1, MODEL, 0)
    assert budget.usage == usage
    booked = from_micro(to_micro(cost))  # micro-dollars, as every book keeps money
    assert await live.spent("a1", at=T0) == (booked, booked)
    tomorrow = datetime(2025, 3, 15, 9, 0, tzinfo=UTC)
    assert (await live.spent("a1", at=tomorrow))[0] == 0, "booked on the UTC day of the call"
    await live.book("a1", Decimal(0), at=T0)
    assert await live.spent("a1", at=T0) == (booked, booked)
