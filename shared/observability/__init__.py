"""Observability shared by every function: activation metrics and per-event log context.

Both are ``Handler -> Handler`` policies, so the stream pump and the HTTP target wrap
the same handler the same way::

    handler = with_log_context(with_activation_metrics(handler, ActivationMetrics(registry)))

Metrics are declared once per process on the registry it serves on ``/metrics``;
``Readiness`` is the one ``/readyz`` answer of every function; ``ScrapeCollector``
exports gauges read from Redis at scrape time (the metrics function's).
"""

from ._context import CONTEXT_KEYS, event_context, log_context, with_log_context
from ._health import Readiness, check_redis
from ._metrics import ActivationMetrics, failure_of, outcome_of, with_activation_metrics
from ._scrape import Reader, ScrapeCollector

__all__ = [
    "CONTEXT_KEYS",
    "ActivationMetrics",
    "Reader",
    "Readiness",
    "ScrapeCollector",
    "check_redis",
    "event_context",
    "failure_of",
    "log_context",
    "outcome_of",
    "with_activation_metrics",
    "with_log_context",
]
