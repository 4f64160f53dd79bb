"""Activation and HTTP metrics, declared once on an injected registry.

``with_activation_metrics(handler, metrics)`` times every handler call and labels it
with its outcome: the ``outcome`` of the ``activation.completed`` event the handler
returned (``replied``, ``no_response``, ``budget_exhausted``...), ``none`` when it
returned nothing, or the kind of failure when it raised. Tokens and cost by agent and
model are counted once, where the completed events are booked: the metrics function
(``shared.accounting.AccountingMetrics``), not again in every runner.
"""

from __future__ import annotations

import functools
import time

import structlog
from cloudevents.http import CloudEvent
from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.errors import PermanentError, TransientError
from shared.events import ACTIVATION_COMPLETED
from shared.streams import Handler, Outcome, RetryLater

log = structlog.get_logger("botburrow.activation")

_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)


class ActivationMetrics:
    """What activations did and spent, and how HTTP requests were answered."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.duration = Histogram(
            "botburrow_activation_duration_seconds",
            "Handler run time of one activation, by outcome.",
            ["outcome"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.activations = Counter(
            "botburrow_activations_total", "Activations handled, by outcome.", ["outcome"], registry=registry
        )
        self.http_requests = Counter(
            "botburrow_http_requests_total",
            "HTTP requests answered, by route and status.",
            ["route", "status"],
            registry=registry,
        )

    def observe(self, outcome: str, duration_s: float) -> None:
        """Count one activation and its run time."""
        self.activations.labels(outcome=outcome).inc()
        self.duration.labels(outcome=outcome).observe(duration_s)


def outcome_of(events: Outcome) -> str:
    """The outcome label of a handler's result: the first completed event's ``outcome``, else ``none``."""
    for event in events or ():
        data = event.get_data()
        if event["type"] == ACTIVATION_COMPLETED and isinstance(data, dict) and data.get("outcome"):
            return str(data["outcome"])
    return "none"


def failure_of(exc: BaseException) -> str:
    """The outcome label of a handler that raised: what the caller does next."""
    if isinstance(exc, RetryLater):
        return "retry_later"
    if isinstance(exc, TransientError):
        return "transient_error"
    if isinstance(exc, PermanentError):
        return "permanent_error"
    return "error"


def with_activation_metrics(handler: Handler, metrics: ActivationMetrics) -> Handler:
    """``handler`` timed and counted by outcome, with one ``activation.finished`` log line per call."""

    @functools.wraps(handler)
    async def handle(event: CloudEvent) -> Outcome:
        started = time.perf_counter()
        try:
            result = await handler(event)
        except Exception as exc:
            outcome = failure_of(exc)
            elapsed = time.perf_counter() - started
            metrics.observe(outcome, elapsed)
            log.info("activation.finished", outcome=outcome, error=type(exc).__name__, duration_ms=_ms(elapsed))
            raise
        outcome = outcome_of(result)
        elapsed = time.perf_counter() - started
        metrics.observe(outcome, elapsed)
        log.info("activation.finished", outcome=outcome, duration_ms=_ms(elapsed))
        return result

    return handle


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
