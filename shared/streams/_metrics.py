"""Prometheus metrics of the transport, declared once on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Dispatch latency is sub-millisecond when idle; the low buckets are where it lives.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class StreamMetrics:
    """Counters, gauges and histograms of one process's pumps and publishers."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.lag = Gauge(
            "botburrow_stream_lag",
            "Entries not yet delivered to the group (what KEDA scales on).",
            ["stream"],
            registry=registry,
        )
        self.pending = Gauge(
            "botburrow_stream_pending", "Entries delivered and not yet acknowledged.", ["stream"], registry=registry
        )
        self.length = Gauge("botburrow_stream_length", "Entries held by the stream.", ["stream"], registry=registry)
        self.delayed = Gauge(
            "botburrow_stream_delayed", "Entries waiting to go back onto the stream.", ["stream"], registry=registry
        )
        self.dlq_size = Gauge("botburrow_dlq_size", "Entries in the dead-letter stream.", registry=registry)
        self.claimed = Counter(
            "botburrow_events_claimed_total", "Entries claimed, by how.", ["stream", "how"], registry=registry
        )
        self.settled = Counter(
            "botburrow_events_settled_total", "Entries settled, by action.", ["action"], registry=registry
        )
        self.not_owned = Counter(
            "botburrow_events_not_owned_total",
            "Settlements skipped because another consumer had reclaimed the entry.",
            registry=registry,
        )
        self.deadlettered = Counter(
            "botburrow_events_deadlettered_total",
            "Entries moved to the dead-letter stream.",
            ["reason"],
            registry=registry,
        )
        self.handler_failures = Counter(
            "botburrow_handler_failures_total", "Handler calls that raised.", ["error"], registry=registry
        )
        self.leases = Counter("botburrow_leases_total", "Agent lease outcomes.", ["result"], registry=registry)
        self.dispatch_latency = Histogram(
            "botburrow_dispatch_latency_seconds",
            "Publish to handler start.",
            ["stream"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.handler_duration = Histogram(
            "botburrow_handler_duration_seconds",
            "Handler run time.",
            buckets=(0.001, 0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800),
            registry=registry,
        )
        self.in_flight = Gauge("botburrow_events_in_flight", "Entries held by this process.", registry=registry)
        self.promoted = Counter(
            "botburrow_events_promoted_total", "Delayed entries moved back onto their stream.", registry=registry
        )
        self.trimmed = Counter(
            "botburrow_events_trimmed_total", "Acknowledged entries trimmed from streams.", registry=registry
        )
