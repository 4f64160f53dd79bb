"""Usage, budgets and consumption: what agents spent, may spend, and what the Hub is told.

::

    activation.completed ──► UsageBook.record ──┬─► {p}:usage:{agent}:d:{YYYY-MM-DD}  (hashes,
                             (once per event id) ├─► {p}:usage:{agent}:m:{YYYY-MM}      micro-USD)
                                                 └─► {p}:consumption:outbox ──flush──► POST /system/consumption
                                                       (same MULTI)            4xx ──► {p}:consumption:dead
    poller / runner ──► BudgetGate.check ──► Hub budget health ({p}:budget:{agent}, cached)
                                             + max(UsageBook, LiveSpend)
    each LLM call ──► CallBudget.admit (cost cap, BudgetGate) ──► call ──► CallBudget.settle
                                                                        └─► LiveSpend.book ({p}:spend:{agent}:d|m:…)

Money is kept as integer micro-dollars in Redis and handed out as ``Decimal`` dollars.
Failures are ``StreamUnavailable`` (Redis) from the ``shared.errors`` tree; Hub failures
never escape ``flush`` (records are kept or dead-lettered) nor ``check`` (the last known
limits are used).
"""

from ._book import RECORD_STEP, Spend, Totals, UsageBook, spent_tokens
from ._budget import BUDGET_EXHAUSTED, BudgetGate, BudgetVerdict
from ._calls import COST_CAP, Admission, BudgetCheck, CallBudget, Refused, Spending
from ._flusher import run_flusher
from ._keys import AccountingKeys, from_micro, to_micro
from ._live import LiveSpend
from ._metrics import AccountingMetrics, BudgetMetrics
from ._outbox import ConsumptionOutbox, DeadRecord, consumption_of

__all__ = [
    "BUDGET_EXHAUSTED",
    "COST_CAP",
    "RECORD_STEP",
    "AccountingKeys",
    "AccountingMetrics",
    "Admission",
    "BudgetCheck",
    "BudgetGate",
    "BudgetMetrics",
    "BudgetVerdict",
    "CallBudget",
    "ConsumptionOutbox",
    "DeadRecord",
    "LiveSpend",
    "Refused",
    "Spend",
    "Spending",
    "Totals",
    "UsageBook",
    "consumption_of",
    "from_micro",
    "run_flusher",
    "spent_tokens",
    "to_micro",
]
