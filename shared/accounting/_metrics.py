"""Prometheus metrics of accounting, declared once on an injected registry."""

from __future__ import annotations

import weakref
from typing import ClassVar

from prometheus_client import CollectorRegistry, Counter, Gauge

TOKEN_KINDS = ("input", "output", "cache_write", "cache_read")


class AccountingMetrics:
    """Tokens and cost by agent and model, consumption reporting and the outbox (the metrics function's).

    Args:
        registry: where the metrics are declared (one ``AccountingMetrics`` per registry).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.tokens = Counter(
            "botburrow_tokens_total",
            "LLM tokens spent by activations, by agent, model and kind.",
            ["agent", "model", "kind"],
            registry=registry,
        )
        self.cost_usd = Counter(
            "botburrow_cost_usd_total",
            "USD spent by activations, by agent and model.",
            ["agent", "model"],
            registry=registry,
        )
        self.recorded = Counter(
            "botburrow_activations_recorded_total",
            "Completed activations recorded in the usage book, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.reported = Counter(
            "botburrow_consumption_reported_total",
            "Consumption records the Hub accepted.",
            registry=registry,
        )
        self.report_failed = Counter(
            "botburrow_consumption_report_failed_total",
            "Consumption reports that failed: unavailable (kept for later) or rejected (dead-lettered).",
            ["reason"],
            registry=registry,
        )
        self.outbox_size = Gauge(
            "botburrow_consumption_outbox_size",
            "Consumption records waiting to be reported.",
            registry=registry,
        )
        self.dead_size = Gauge(
            "botburrow_consumption_dead_size",
            "Consumption records the Hub refused, waiting for an operator.",
            registry=registry,
        )


class BudgetMetrics:
    """Budget checks by verdict and by who asked (the poller before queueing, the runner before spending).

    The poller's and the runner's gates may share a process and its registry (one
    process running both handlers), so take it with ``BudgetMetrics.on(registry)``.

    Args:
        registry: where the counter is declared (one ``BudgetMetrics`` per registry).
    """

    _by_registry: ClassVar[weakref.WeakKeyDictionary[CollectorRegistry, BudgetMetrics]] = weakref.WeakKeyDictionary()

    @classmethod
    def on(cls, registry: CollectorRegistry) -> BudgetMetrics:
        """The budget counter declared on ``registry``, declared now if it is not yet."""
        found = cls._by_registry.get(registry)
        if found is None:
            found = cls._by_registry[registry] = cls(registry)
        return found

    def __init__(self, registry: CollectorRegistry) -> None:
        self.checks = Counter(
            "botburrow_budget_checks_total",
            "Budget checks, by result (allowed, refused), where (poller, runner) and reason.",
            ["result", "where", "reason"],
            registry=registry,
        )
