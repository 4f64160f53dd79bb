"""``CallBudget``: one activation's LLM calls, each admitted before it starts and booked as it is answered.

The one budget path of every executor: the native loop asks it in-process, the
activation gateway asks it for each HTTP call a coding CLI makes.

::

    admit(worst_usd) ─► cost cap: spent + in flight + worst ≤ cap?  ── no ─► Refused("cost_cap")
                        (reserved at once, so calls side by side cannot overshoot together)
                     ─► BudgetGate.check: daily, monthly, Hub health  ── no ─► Refused(reason)
                     ─► Admission (worst_usd stays reserved until the call settles)
    settle(admission, model, usage) ─► cost from the price table ─► LiveSpend.book (at once) ─► totals
    release(admission)              ─► the call failed with nothing to bill: the reservation goes

The budget check reads what runners booked per call (``LiveSpend``) as well as the
metrics function's book, so an agent over its daily budget is refused at its next call
whether or not the metrics function runs. Calls of one activation still in flight are
not yet booked: the overshoot of a budget is bounded by their worst cases.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

import structlog

from shared.llm import Usage, cost_usd

from ._budget import BudgetVerdict
from ._live import LiveSpend

log = structlog.get_logger("botburrow.accounting")

COST_CAP = "cost_cap"
"""The reason of a call refused by the activation's own cost cap."""


class BudgetCheck(Protocol):
    """Whether an agent may spend now (``BudgetGate`` is one)."""

    async def check(self, agent_id: str) -> BudgetVerdict:
        """The verdict for ``agent_id`` now."""
        ...


@dataclass(frozen=True, slots=True)
class Admission:
    """A call allowed to start, holding its worst case against the cost cap until it settles."""

    worst_usd: Decimal


@dataclass(frozen=True, slots=True)
class Refused:
    """A call that must not start, and why.

    ``reason`` is ``cost_cap``, ``daily_limit``, ``monthly_limit`` or ``hub_unhealthy``.
    """

    reason: str
    detail: str


class Spending:
    """The process's budget policy, from which each activation gets its ``CallBudget``.

    Args:
        gate: the agent's daily and monthly budget (``None``: only the cost cap is checked).
        live: where each call's cost is booked at once (``None``: nothing is booked).
        clock: seconds since the epoch (which UTC day a call is booked on).
    """

    def __init__(
        self, *, gate: BudgetCheck | None = None, live: LiveSpend | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.gate = gate
        self.live = live
        self.clock = clock

    def for_activation(self, *, agent_id: str, cost_cap_usd: Decimal) -> CallBudget:
        """A fresh budget for one activation of ``agent_id`` (the Hub id its spend is booked under)."""
        return CallBudget(agent_id=agent_id, cost_cap_usd=cost_cap_usd, spending=self)


class CallBudget:
    """One activation's calls: admitted one by one, booked as answered, totalled.

    Attributes:
        spent_usd: what the calls settled so far cost.
        usage: their tokens, all four kinds.
        calls: how many settled.
        model: the model of the last one.
    """

    def __init__(self, *, agent_id: str, cost_cap_usd: Decimal, spending: Spending) -> None:
        self.agent_id = agent_id
        self.cost_cap_usd = cost_cap_usd
        self._spending = spending
        self.spent_usd = Decimal(0)
        self.usage = Usage()
        self.calls = 0
        self.model = ""
        self._reserved_usd = Decimal(0)
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Calls admitted and not yet settled or released."""
        return self._in_flight

    async def admit(self, *, worst_usd: Decimal) -> Admission | Refused:
        """Whether a call that may cost up to ``worst_usd`` may start now.

        Raises:
            StreamUnavailable: Redis failed while the agent's budget was read (transient).
        """
        if self.spent_usd + self._reserved_usd + worst_usd > self.cost_cap_usd:
            return Refused(
                COST_CAP,
                f"the activation's cost cap of ${self.cost_cap_usd} would be passed "
                f"(spent ${self.spent_usd:.6f}, up to ${worst_usd:.6f} more for this call)",
            )
        admission = Admission(worst_usd)
        self._reserved_usd += worst_usd
        self._in_flight += 1
        gate = self._spending.gate
        if gate is not None:
            try:
                verdict = await gate.check(self.agent_id)
            except BaseException:
                self.release(admission)
                raise
            if not verdict.allowed:
                self.release(admission)
                return Refused(verdict.reason, _budget_detail(verdict))
        return admission

    async def settle(self, admission: Admission, *, model: str, usage: Usage) -> Decimal:
        """Bill an answered call: its cost, booked for the agent at once; the reservation goes.

        Raises:
            StreamUnavailable: Redis failed while booking; the totals are updated all the same
                (what the activation reports is right), only the live book missed this call.
        """
        cost = cost_usd(model, usage).usd
        self.release(admission)
        self.spent_usd += cost
        self.usage += usage
        self.calls += 1
        self.model = model
        live = self._spending.live
        if live is not None and cost:
            await live.book(self.agent_id, cost, at=datetime.fromtimestamp(self._spending.clock(), UTC))
        return cost

    def release(self, admission: Admission) -> None:
        """Give back the reservation of a call that failed with nothing to bill."""
        self._reserved_usd -= admission.worst_usd
        self._in_flight -= 1


def _budget_detail(verdict: BudgetVerdict) -> str:
    if verdict.reason == "daily_limit":
        return f"the agent's daily budget is spent (${verdict.daily_used_usd} of ${verdict.daily_limit_usd})"
    if verdict.reason == "monthly_limit":
        return f"the agent's monthly budget is spent (${verdict.monthly_used_usd} of ${verdict.monthly_limit_usd})"
    return "the Hub says the agent's budget is not healthy"
